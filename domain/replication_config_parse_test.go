package domain_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
)

const (
	testRole = "arn:aws:iam::123456789012:role/src-resource"
	twoRoles = "arn:aws:iam::123456789012:role/src-resource,arn:aws:iam::123456789012:role/dest-resource"
)

var testSites = []string{"site-a", "site-b", "site-c"}

const sampleConfigXML = `<?xml version="1.0" encoding="UTF-8"?>
<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Role>` + twoRoles + `</Role>
  <Rule>
    <ID>logs</ID>
    <Status>Enabled</Status>
    <Prefix>logs/</Prefix>
    <Destination>
      <Bucket>arn:aws:s3:::dst-logs</Bucket>
      <StorageClass>site-a,site-b</StorageClass>
    </Destination>
  </Rule>
  <Rule>
    <ID>images</ID>
    <Priority>1</Priority>
    <Status>Disabled</Status>
    <Filter><Prefix>img/</Prefix></Filter>
    <DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>
    <Destination>
      <Bucket>arn:aws:s3:::dst.images</Bucket>
      <StorageClass>site-c:preferred_read</StorageClass>
      <Account>123</Account>
    </Destination>
  </Rule>
</ReplicationConfiguration>`

const sampleConfigJSON = `{
  "Role": "` + twoRoles + `",
  "Rules": [
    {"ID": "logs", "Status": "Enabled", "Prefix": "logs/",
     "Destination": {"Bucket": "arn:aws:s3:::dst-logs", "StorageClass": "site-a,site-b"}},
    {"ID": "images", "Priority": 1, "Status": "Disabled", "Filter": {"Prefix": "img/"},
     "DeleteMarkerReplication": {"Status": "Disabled"},
     "Destination": {"Bucket": "arn:aws:s3:::dst.images", "StorageClass": "site-c:preferred_read", "Account": "123"}}
  ]
}`

func sampleConfig() domain.ReplicationConfig {
	return domain.ReplicationConfig{
		Role: twoRoles,
		Rules: []domain.ReplicationRule{
			{ID: "logs", Enabled: true, Prefix: "logs/", DestinationBucket: "arn:aws:s3:::dst-logs", StorageClass: "site-a,site-b"},
			{ID: "images", Enabled: false, Prefix: "img/", DestinationBucket: "arn:aws:s3:::dst.images", StorageClass: "site-c:preferred_read"},
		},
	}
}

// validConfig is a one-rule configuration that Validate accepts with
// testSites; each problem case changes one thing in it.
func validConfig() domain.ReplicationConfig {
	return domain.ReplicationConfig{
		Role: testRole,
		Rules: []domain.ReplicationRule{
			{ID: "r0", Enabled: true, Prefix: "a/", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"},
		},
	}
}

type parser struct {
	name  string
	parse func([]byte) (domain.ReplicationConfig, error)
}

var parsers = []parser{
	{"XML", domain.ParseReplicationConfigXML},
	{"JSON", domain.ParseReplicationConfigJSON},
}

func TestParseReplicationConfig(t *testing.T) {
	for _, tt := range []struct {
		parser
		doc string
	}{
		{parsers[0], sampleConfigXML},
		{parsers[1], sampleConfigJSON},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if want := sampleConfig(); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if err := got.Validate(testSites); err != nil {
				t.Errorf("Validate(known sites) of a valid document: %v", err)
			}
		})
	}
}

func TestParseReplicationConfigXMLVariants(t *testing.T) {
	rule := func(inner string) string {
		return `<ReplicationConfiguration><Role>` + testRole + `</Role><Rule>` + inner +
			`<Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket><StorageClass>site-a</StorageClass></Destination></Rule></ReplicationConfiguration>`
	}
	tests := []struct {
		name, doc  string
		wantPrefix string
		wantID     string
	}{
		{"no namespace, no ID", rule(`<Prefix>p/</Prefix>`), "p/", "rule-0"},
		{"empty filter means every key", rule(`<ID>x</ID><Filter/>`), "", "x"},
		{"empty filter prefix", rule(`<ID>x</ID><Filter><Prefix></Prefix></Filter>`), "", "x"},
		{"no prefix at all", rule(`<ID>x</ID>`), "", "x"},
		{"prefix and equal filter prefix", rule(`<ID>x</ID><Prefix>p</Prefix><Filter><Prefix>p</Prefix></Filter>`), "p", "x"},
		{"escaped and non-ASCII prefix", rule(`<ID>x</ID><Prefix>a&amp;b/é &lt;</Prefix>`), "a&b/é <", "x"},
		{"CDATA prefix", rule(`<ID>x</ID><Prefix><![CDATA[a<b]]></Prefix>`), "a<b", "x"},
		{"white space is kept", rule(`<ID>x</ID><Prefix> p </Prefix>`), " p ", "x"},
		{"comments and processing instructions after the root", rule(`<ID>x</ID>`) + "\n<!-- c -->\n<?pi x?>\n", "", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := domain.ParseReplicationConfigXML([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Rules) != 1 || c.Rules[0].Prefix != tt.wantPrefix || c.Rules[0].ID != tt.wantID || !c.Rules[0].Enabled {
				t.Errorf("rules = %+v, want prefix %q, ID %q, enabled", c.Rules, tt.wantPrefix, tt.wantID)
			}
		})
	}
}

func TestParseReplicationConfigGeneratesIDs(t *testing.T) {
	doc := `{"Role": "` + testRole + `", "Rules": [
		{"Status": "Enabled", "Prefix": "a", "Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "site-a"}},
		{"ID": "rule-0", "Status": "Enabled", "Prefix": "b", "Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "site-a"}},
		{"ID": "", "Status": "Enabled", "Prefix": "c", "Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "site-a"}},
		{"ID": "rule-0-2", "Status": "Enabled", "Prefix": "d", "Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "site-a"}}
	]}`
	c, err := domain.ParseReplicationConfigJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range c.Rules {
		ids = append(ids, r.ID)
	}
	if want := []string{"rule-0-3", "rule-0", "rule-2", "rule-0-2"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("IDs = %q, want %q", ids, want)
	}
}

func TestParseReplicationConfigSyntaxErrors(t *testing.T) {
	tests := []struct {
		parser
		name, doc, want string
	}{
		{parsers[0], "empty", ``, "empty"},
		{parsers[0], "only white space", " \n", "empty"},
		{parsers[0], "unclosed", `<ReplicationConfiguration><Role>x</Role>`, "malformed XML"},
		{parsers[0], "mismatched tags", `<ReplicationConfiguration><Role>x</Rule></ReplicationConfiguration>`, "malformed XML"},
		{parsers[0], "wrong root", `<BucketLoggingStatus/>`, "ReplicationConfiguration"},
		{parsers[0], "two roots", `<ReplicationConfiguration/><ReplicationConfiguration/>`, "more than one root"},
		{parsers[0], "text after the root", `<ReplicationConfiguration/>x`, "text after the root"},
		{parsers[0], "broken after the root", `<ReplicationConfiguration/><`, "malformed XML"},
		{parsers[0], "undefined entity", `<ReplicationConfiguration><Role>&foo;</Role></ReplicationConfiguration>`, "malformed XML"},
		{parsers[0], "JSON given", sampleConfigJSON, "malformed XML: no root element"},
		{parsers[1], "empty", ``, "malformed JSON"},
		{parsers[1], "unclosed", `{"Role": "x"`, "malformed JSON"},
		{parsers[1], "trailing data", `{} {}`, "malformed JSON"},
		{parsers[1], "XML given", sampleConfigXML, "malformed JSON"},
		{parsers[1], "not an object", `[]`, "the document is a JSON array, want an object"},
		{parsers[1], "role not a string", `{"Role": 1}`, "field Role is a JSON number, want a string"},
		{parsers[1], "rules not an array", `{"Rules": {}}`, "field Rules is a JSON object, want an array"},
		{parsers[1], "rule not an object", `{"Rules": ["r"]}`, "want an object"},
		{parsers[1], "status not a string", `{"Rules": [{"Status": true}]}`, "field Rules.Status is a JSON bool, want a string"},
		{parsers[1], "bucket not a string", `{"Rules": [{"Destination": {"Bucket": 1}}]}`, "field Rules.Destination.Bucket"},
		{parsers[1], "filter prefix not a string", `{"Rules": [{"Filter": {"Prefix": []}}]}`, "field Rules.Filter.Prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.parser.name+"/"+tt.name, func(t *testing.T) {
			c, err := tt.parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed %q as %+v, want an error", tt.doc, c)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "replication configuration: ") {
				t.Errorf("error %q, want one starting with \"replication configuration: \" and containing %q", err, tt.want)
			}
			var ce *domain.ConfigError
			if errors.As(err, &ce) {
				t.Errorf("a syntax error is reported as a *ConfigError: %v", err)
			}
		})
	}
}

// problemsOf returns the problems of err, failing unless it is a
// *ConfigError.
func problemsOf(t *testing.T, err error) []domain.FieldError {
	t.Helper()
	var ce *domain.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *ConfigError", err, err)
	}
	if len(ce.Problems) == 0 {
		t.Fatal("*ConfigError without problems")
	}
	return ce.Problems
}

func TestValidate(t *testing.T) {
	rule := func(id, prefix, sites string) domain.ReplicationRule {
		return domain.ReplicationRule{ID: id, Enabled: true, Prefix: prefix, DestinationBucket: "arn:aws:s3:::dst", StorageClass: sites}
	}
	manyRules := func(n int) []domain.ReplicationRule {
		rules := make([]domain.ReplicationRule, n)
		for i := range rules {
			rules[i] = rule(fmt.Sprintf("r%d", i), fmt.Sprintf("p%04d/", i), "site-a")
		}
		return rules
	}
	tests := []struct {
		name   string
		change func(c *domain.ReplicationConfig)
		sites  []string // known sites; testSites when nil
		// noSiteList validates with a nil site list instead.
		noSiteList bool
		// field and problem fragment of the single expected problem; an
		// empty field means the configuration is valid.
		field, problem string
	}{
		{name: "valid", change: func(*domain.ReplicationConfig) {}},
		{name: "valid without a site list", noSiteList: true, change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "anywhere" }},
		{name: "two roles", change: func(c *domain.ReplicationConfig) { c.Role = twoRoles }},
		{name: "any account", change: func(c *domain.ReplicationConfig) { c.Role = "arn:aws:iam::*:role/r" }},
		{name: "a comma splits a role name", change: func(c *domain.ReplicationConfig) {
			c.Role = "arn:aws:iam::123456789012:role/service/replicate+1=a,b@c_d-e.f"
		}, field: "Role", problem: `"b@c_d-e.f" is not an IAM role ARN`},
		{name: "role with a path", change: func(c *domain.ReplicationConfig) {
			c.Role = "arn:aws:iam::123456789012:role/service/replicate+1=a@c_d-e.f"
		}},
		{name: "no role", change: func(c *domain.ReplicationConfig) { c.Role = "" }, field: "Role", problem: "is required"},
		{name: "role not an ARN", change: func(c *domain.ReplicationConfig) { c.Role = "admin" }, field: "Role", problem: `"admin" is not an IAM role ARN`},
		{name: "user ARN", change: func(c *domain.ReplicationConfig) { c.Role = "arn:aws:iam::123456789012:user/bob" }, field: "Role", problem: "is not an IAM role ARN"},
		{name: "role of another service", change: func(c *domain.ReplicationConfig) { c.Role = "arn:aws:s3::123456789012:role/r" }, field: "Role", problem: "is not an IAM role ARN"},
		{name: "role without account", change: func(c *domain.ReplicationConfig) { c.Role = "arn:aws:iam:::role/r" }, field: "Role", problem: "is not an IAM role ARN"},
		{name: "role without name", change: func(c *domain.ReplicationConfig) { c.Role = "arn:aws:iam::123456789012:role/" }, field: "Role", problem: "is not an IAM role ARN"},
		{name: "role named role", change: func(c *domain.ReplicationConfig) { c.Role = "arn:aws:iam::123456789012:role" }, field: "Role", problem: "is not an IAM role ARN"},
		{name: "role with a space", change: func(c *domain.ReplicationConfig) { c.Role = testRole + ", " + testRole }, field: "Role", problem: `" arn:aws:iam::`},
		{name: "empty second role", change: func(c *domain.ReplicationConfig) { c.Role = testRole + "," }, field: "Role", problem: `"" is not an IAM role ARN`},
		{name: "three roles", change: func(c *domain.ReplicationConfig) { c.Role = twoRoles + "," + testRole }, field: "Role", problem: "names 3 role ARNs, at most 2"},
		{name: "no rules", change: func(c *domain.ReplicationConfig) { c.Rules = nil }, field: "Rules", problem: "at least one rule"},
		{name: "1000 rules", change: func(c *domain.ReplicationConfig) { c.Rules = manyRules(1000) }},
		{name: "1001 rules", change: func(c *domain.ReplicationConfig) { c.Rules = manyRules(1001) }, field: "Rules", problem: "has 1001 rules, at most 1000"},
		{name: "empty ID", change: func(c *domain.ReplicationConfig) { c.Rules[0].ID = "" }, field: "Rules[0].ID", problem: "is empty"},
		{name: "ID of 255 characters", change: func(c *domain.ReplicationConfig) { c.Rules[0].ID = strings.Repeat("é", 255) }},
		{name: "ID of 256 characters", change: func(c *domain.ReplicationConfig) { c.Rules[0].ID = strings.Repeat("x", 256) }, field: "Rules[0].ID", problem: "is 256 characters long, at most 255"},
		{name: "duplicate ID", change: func(c *domain.ReplicationConfig) {
			c.Rules = append(c.Rules, rule("r1", "b/", "site-a"), rule("r0", "c/", "site-a"))
		}, field: "Rules[2].ID", problem: `duplicate rule ID "r0"`},
		{name: "prefix of 1024 bytes", change: func(c *domain.ReplicationConfig) { c.Rules[0].Prefix = strings.Repeat("p", 1024) }},
		{name: "prefix of 1025 bytes", change: func(c *domain.ReplicationConfig) { c.Rules[0].Prefix = strings.Repeat("p", 1025) }, field: "Rules[0].Prefix", problem: "is 1025 bytes long, at most 1024"},
		{name: "prefix not UTF-8", change: func(c *domain.ReplicationConfig) { c.Rules[0].Prefix = "a\xff" }, field: "Rules[0].Prefix", problem: "is not valid UTF-8"},
		{name: "prefix with a NUL", change: func(c *domain.ReplicationConfig) { c.Rules[0].Prefix = "a\x00" }, field: "Rules[0].Prefix", problem: "contains U+0000, which an XML document cannot carry"},
		{name: "prefix with U+FFFE", change: func(c *domain.ReplicationConfig) { c.Rules[0].Prefix = "a\ufffe" }, field: "Rules[0].Prefix", problem: "contains U+FFFE"},
		{name: "prefix with U+FFFD, tab, CR and LF", change: func(c *domain.ReplicationConfig) { c.Rules[0].Prefix = "\ufffd\t\r\n" }},
		{name: "ID with a control character", change: func(c *domain.ReplicationConfig) { c.Rules[0].ID = "r\x1b" }, field: "Rules[0].ID", problem: "contains U+001B"},
		{name: "ID not UTF-8", change: func(c *domain.ReplicationConfig) { c.Rules[0].ID = "\xc3" }, field: "Rules[0].ID", problem: "is not valid UTF-8"},
		{name: "site with a control character without a site list", noSiteList: true, change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "a\x01" }, field: "Rules[0].Destination.StorageClass", problem: "contains U+0001"},
		{name: "no destination bucket", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "" }, field: "Rules[0].Destination.Bucket", problem: "is required"},
		{name: "bucket not an ARN", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "dst" }, field: "Rules[0].Destination.Bucket", problem: `"dst" is not a bucket ARN`},
		{name: "bucket ARN of another partition", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws-cn:s3:::dst" }, field: "Rules[0].Destination.Bucket", problem: "is not a bucket ARN"},
		{name: "bucket ARN without bucket", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::" }, field: "Rules[0].Destination.Bucket", problem: "3 to 63"},
		{name: "bucket name of 3", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::abc" }},
		{name: "bucket name of 63", change: func(c *domain.ReplicationConfig) {
			c.Rules[0].DestinationBucket = "arn:aws:s3:::" + strings.Repeat("a", 63)
		}},
		{name: "bucket name with dots and hyphens", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::my.bucket-2.example" }},
		{name: "bucket name too short", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::ab" }, field: "Rules[0].Destination.Bucket", problem: `"ab" must be 3 to 63`},
		{name: "bucket name too long", change: func(c *domain.ReplicationConfig) {
			c.Rules[0].DestinationBucket = "arn:aws:s3:::" + strings.Repeat("a", 64)
		}, field: "Rules[0].Destination.Bucket", problem: "3 to 63"},
		{name: "bucket name in upper case", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::MyBucket" }, field: "Rules[0].Destination.Bucket", problem: "only lowercase letters"},
		{name: "bucket name with underscore", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::my_bucket" }, field: "Rules[0].Destination.Bucket", problem: "only lowercase letters"},
		{name: "bucket name wildcard", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::*" }, field: "Rules[0].Destination.Bucket", problem: "3 to 63"},
		{name: "bucket name starting with a hyphen", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::-dst" }, field: "Rules[0].Destination.Bucket", problem: "start and end"},
		{name: "bucket name ending with a dot", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::dst." }, field: "Rules[0].Destination.Bucket", problem: "start and end"},
		{name: "bucket name with two dots", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::a..b" }, field: "Rules[0].Destination.Bucket", problem: "two adjacent dots"},
		{name: "bucket name like an IP address", change: func(c *domain.ReplicationConfig) { c.Rules[0].DestinationBucket = "arn:aws:s3:::192.168.5.4" }, field: "Rules[0].Destination.Bucket", problem: "IP address"},
		{name: "no storage class", change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "" }, field: "Rules[0].Destination.StorageClass", problem: "names no destination site"},
		{name: "no storage class without a site list", noSiteList: true, change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = " , " }, field: "Rules[0].Destination.StorageClass", problem: "names no destination site"},
		{name: "two sites", change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "site-a, site-c" }},
		{name: "preferred read site", change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "site-a:preferred_read,site-b" }},
		{name: "unknown site", change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "site-a,site-z" }, field: "Rules[0].Destination.StorageClass", problem: `unknown site "site-z" (known sites: site-a, site-b, site-c)`},
		{name: "AWS storage class", change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "STANDARD" }, field: "Rules[0].Destination.StorageClass", problem: "storage class STANDARD is not a destination site"},
		{name: "AWS storage class STANDARD_IA", change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "STANDARD_IA" }, field: "Rules[0].Destination.StorageClass", problem: "storage class STANDARD_IA is not a destination site"},
		{name: "AWS storage class without a site list", noSiteList: true, change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "REDUCED_REDUNDANCY" }},
		{name: "no sites configured", sites: []string{}, change: func(*domain.ReplicationConfig) {}, field: "Rules[0].Destination.StorageClass", problem: `unknown site "site-a" (no site is configured)`},
		{name: "32 sites", noSiteList: true, change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = siteList(32) }},
		{name: "33 sites", noSiteList: true, change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = siteList(33) },
			field: "Rules[0].Destination.StorageClass", problem: "names 33 sites, at most 32 are allowed"},
		{name: "site twice", change: func(c *domain.ReplicationConfig) { c.Rules[0].StorageClass = "site-a,site-b,site-a:preferred_read" }, field: "Rules[0].Destination.StorageClass", problem: `names site "site-a" more than once`},
		{name: "same prefix, other site", change: func(c *domain.ReplicationConfig) {
			c.Rules = append(c.Rules, rule("r1", "a/", "site-b"))
		}},
		{name: "disjoint prefixes, same site", change: func(c *domain.ReplicationConfig) {
			c.Rules = append(c.Rules, rule("r1", "b/", "site-a"), rule("r2", "a", "site-b"))
		}},
		{name: "same prefix, same site", change: func(c *domain.ReplicationConfig) {
			c.Rules = append(c.Rules, rule("r1", "a/", "site-b,site-a"))
		}, field: "Rules[1].Prefix", problem: `prefix "a/" overlaps prefix "a/" of rule "r0", which also replicates to site "site-a"`},
		{name: "longer prefix after a shorter one", change: func(c *domain.ReplicationConfig) {
			c.Rules = append(c.Rules, rule("r1", "b/", "site-a"), rule("r2", "a/2024/", "site-a"))
		}, field: "Rules[2].Prefix", problem: `overlaps prefix "a/" of rule "r0"`},
		{name: "shorter prefix after a longer one", change: func(c *domain.ReplicationConfig) {
			c.Rules = append(c.Rules, rule("r1", "a", "site-a"))
		}, field: "Rules[1].Prefix", problem: `prefix "a" overlaps prefix "a/" of rule "r0"`},
		{name: "empty prefix overlaps everything", change: func(c *domain.ReplicationConfig) {
			c.Rules = append(c.Rules, rule("r1", "", "site-a"))
		}, field: "Rules[1].Prefix", problem: `overlaps prefix "a/" of rule "r0"`},
		{name: "disabled rules overlap too", change: func(c *domain.ReplicationConfig) {
			c.Rules[0].Enabled = false
			c.Rules = append(c.Rules, rule("r1", "a/", "site-a"))
		}, field: "Rules[1].Prefix", problem: `of rule "r0"`},
		{name: "preferred read does not hide an overlap", change: func(c *domain.ReplicationConfig) {
			c.Rules = append(c.Rules, rule("r1", "a/", "site-a:preferred_read"))
		}, field: "Rules[1].Prefix", problem: `site "site-a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			sites := testSites
			switch {
			case tt.noSiteList:
				sites = nil
			case tt.sites != nil:
				sites = tt.sites
			}
			err := c.Validate(sites)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v, want a problem with %s", c, tt.field)
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Field != tt.field || !strings.Contains(ps[0].Problem, tt.problem) {
				t.Fatalf("problems %q, want one %s: ...%s...", ps, tt.field, tt.problem)
			}
		})
	}
}

func siteList(n int) string {
	sites := make([]string, n)
	for i := range sites {
		sites[i] = fmt.Sprintf("s%d", i)
	}
	return strings.Join(sites, ",")
}

// Hostile configurations of the largest size, or beyond it, are validated
// in linear or bounded quadratic time (this test would hang otherwise).
func TestValidateLargeConfigurations(t *testing.T) {
	// 1000 rules whose prefixes all overlap, each with 32 sites of its own.
	c := validConfig()
	c.Rules = nil
	for i := range domain.MaxReplicationRules {
		sites := make([]string, domain.MaxRuleSites)
		for k := range sites {
			sites[k] = fmt.Sprintf("r%d-s%d", i, k)
		}
		c.Rules = append(c.Rules, domain.ReplicationRule{
			ID: fmt.Sprint(i), Enabled: true, Prefix: strings.Repeat("p", i%1024),
			DestinationBucket: "arn:aws:s3:::dst", StorageClass: strings.Join(sites, ","),
		})
	}
	if err := c.Validate(nil); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// One rule naming 200,000 distinct sites.
	c = validConfig()
	c.Rules[0].StorageClass = siteList(200_000)
	ps := problemsOf(t, c.Validate(nil))
	if len(ps) != 1 || !strings.Contains(ps[0].Problem, "names 200000 sites") {
		t.Errorf("problems %q", ps)
	}
	// Two overlapping rules with too many sites each: the sizes are
	// reported, overlaps are not looked for.
	c.Rules = []domain.ReplicationRule{
		{ID: "a", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: siteList(33)},
		{ID: "b", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: siteList(33)},
	}
	if ps := problemsOf(t, c.Validate(nil)); len(ps) != 2 || ps[0].Field != "Rules[0].Destination.StorageClass" || ps[1].Field != "Rules[1].Destination.StorageClass" {
		t.Errorf("problems %q, want the two site counts only", ps)
	}
	// And 1001 rules naming 1000 sites each, all overlapping: too big to
	// look for overlaps.
	c.Rules = make([]domain.ReplicationRule, 1001)
	sites := siteList(1000)
	for i := range c.Rules {
		c.Rules[i] = domain.ReplicationRule{ID: fmt.Sprint(i), Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: sites}
	}
	if ps := problemsOf(t, c.Validate(nil)); len(ps) != 1002 {
		t.Errorf("%d problems, want 1002", len(ps))
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := domain.ReplicationConfig{
		Role: "",
		Rules: []domain.ReplicationRule{
			{ID: "x", Enabled: true, Prefix: "a", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"},
			{ID: "x", Enabled: true, Prefix: "b", DestinationBucket: "arn:aws:s3:::Bkt", StorageClass: "STANDARD"},
			{ID: "", Enabled: false, Prefix: "ab", DestinationBucket: "dst", StorageClass: "site-a,nowhere"},
		},
	}
	err := c.Validate(testSites)
	want := []domain.FieldError{
		{Field: "Role", Problem: "is required"},
		{Field: "Rules[1].ID", Problem: `duplicate rule ID "x"`},
		{Field: "Rules[1].Destination.Bucket", Problem: `bucket name "Bkt" must contain only lowercase letters, digits, dots and hyphens`},
		{Field: "Rules[1].Destination.StorageClass", Problem: "storage class STANDARD is not a destination site: name one or more sites (known sites: site-a, site-b, site-c)"},
		{Field: "Rules[2].ID", Problem: "is empty"},
		{Field: "Rules[2].Destination.Bucket", Problem: `"dst" is not a bucket ARN (arn:aws:s3:::<bucket>)`},
		{Field: "Rules[2].Destination.StorageClass", Problem: `unknown site "nowhere" (known sites: site-a, site-b, site-c)`},
		{Field: "Rules[2].Prefix", Problem: `prefix "ab" overlaps prefix "a" of rule "x", which also replicates to site "site-a"`},
	}
	if got := problemsOf(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "replication configuration: Role: is required; Rules[1].ID: duplicate rule ID \"x\"; ") {
		t.Errorf("Error() = %q", msg)
	}
	for _, p := range want {
		if !strings.Contains(msg, p.Field+": "+p.Problem) {
			t.Errorf("Error() lacks %q", p.Error())
		}
	}
}

func TestConfigErrorMessage(t *testing.T) {
	err := &domain.ConfigError{Problems: []domain.FieldError{
		{Field: "Rules[1].ID", Problem: `duplicate rule ID "x"`},
		{Field: "Role", Problem: "is required"},
	}}
	want := `replication configuration: Rules[1].ID: duplicate rule ID "x"; Role: is required`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (domain.FieldError{Field: "Role", Problem: "is required"}).Error(); got != "Role: is required" {
		t.Errorf("FieldError.Error() = %q", got)
	}
}

func TestValidateReturnsUntypedNil(t *testing.T) {
	err := validConfig().Validate(testSites)
	if err != nil {
		t.Fatalf("Validate of a valid configuration = %#v, want a nil error", err)
	}
}

// The parsers report what only the document shows (statuses, filters,
// repeated elements) together with what Validate finds.
func TestParseReplicationConfigProblems(t *testing.T) {
	const dst = `<Destination><Bucket>arn:aws:s3:::dst</Bucket><StorageClass>site-a</StorageClass></Destination>`
	xmlDoc := func(role string, rules ...string) string {
		return `<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Role>` + role + `</Role>` +
			"<Rule>" + strings.Join(rules, "</Rule><Rule>") + "</Rule></ReplicationConfiguration>"
	}
	jsonDoc := func(role string, rules ...string) string {
		return `{"Role": "` + role + `", "Rules": [{` + strings.Join(rules, "}, {") + `}]}`
	}
	const jdst = `"Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "site-a"}`
	tests := []struct {
		parser
		name, doc string
		want      []domain.FieldError
	}{
		{parsers[0], "status missing", xmlDoc(testRole, `<ID>a</ID>`+dst), []domain.FieldError{
			{Field: "Rules[0].Status", Problem: "is required (Enabled or Disabled)"}}},
		{parsers[0], "status in lower case", xmlDoc(testRole, `<ID>a</ID><Status>enabled</Status>`+dst), []domain.FieldError{
			{Field: "Rules[0].Status", Problem: `is "enabled", want Enabled or Disabled`}}},
		{parsers[1], "status unknown", jsonDoc(testRole, `"ID": "a", "Status": "On", `+jdst), []domain.FieldError{
			{Field: "Rules[0].Status", Problem: `is "On", want Enabled or Disabled`}}},
		{parsers[1], "status missing", jsonDoc(testRole, jdst), []domain.FieldError{
			{Field: "Rules[0].Status", Problem: "is required (Enabled or Disabled)"}}},
		{parsers[0], "prefix and filter differ", xmlDoc(testRole, `<Status>Enabled</Status><Prefix>a</Prefix><Filter><Prefix>b</Prefix></Filter>`+dst), []domain.FieldError{
			{Field: "Rules[0].Filter", Problem: `Prefix "a" and Filter.Prefix "b" differ: give only one`}}},
		{parsers[1], "prefix and filter differ", jsonDoc(testRole, `"Status": "Enabled", "Prefix": "a", "Filter": {"Prefix": ""}, `+jdst), []domain.FieldError{
			{Field: "Rules[0].Filter", Problem: `Prefix "a" and Filter.Prefix "" differ: give only one`}}},
		{parsers[0], "tag filter", xmlDoc(testRole, `<Status>Enabled</Status><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>`+dst), []domain.FieldError{
			{Field: "Rules[0].Filter", Problem: "only Prefix filters are supported, not Tag or And"}}},
		{parsers[0], "and filter", xmlDoc(testRole, `<Status>Enabled</Status><Filter><And><Prefix>p</Prefix></And></Filter>`+dst), []domain.FieldError{
			{Field: "Rules[0].Filter", Problem: "only Prefix filters are supported, not Tag or And"}}},
		{parsers[1], "tag filter", jsonDoc(testRole, `"Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, `+jdst), []domain.FieldError{
			{Field: "Rules[0].Filter", Problem: "only Prefix filters are supported, not Tag or And"}}},
		{parsers[1], "and filter", jsonDoc(testRole, `"Status": "Enabled", "Filter": {"And": {"Prefix": "p"}}, `+jdst), []domain.FieldError{
			{Field: "Rules[0].Filter", Problem: "only Prefix filters are supported, not Tag or And"}}},
		{parsers[0], "repeated elements", `<ReplicationConfiguration><Role>` + testRole + `</Role><Role>` + testRole + `</Role><Rule><ID>a</ID><ID>b</ID>` +
			`<Status>Enabled</Status><Status>Enabled</Status><Prefix/><Prefix/><Filter/><Filter><Prefix/><Prefix/></Filter>` + dst + dst + `</Rule>` +
			`<Rule><ID>c</ID><Status>Enabled</Status><Prefix>c</Prefix><Destination><Bucket>arn:aws:s3:::dst</Bucket><Bucket>arn:aws:s3:::dst</Bucket><StorageClass>site-b</StorageClass><StorageClass>site-b</StorageClass></Destination></Rule>` +
			`</ReplicationConfiguration>`, []domain.FieldError{
			{Field: "Role", Problem: "is given 2 times"},
			{Field: "Rules[0].ID", Problem: "is given 2 times"},
			{Field: "Rules[0].Status", Problem: "is given 2 times"},
			{Field: "Rules[0].Prefix", Problem: "is given 2 times"},
			{Field: "Rules[0].Filter", Problem: "is given 2 times"},
			{Field: "Rules[0].Destination", Problem: "is given 2 times"},
			{Field: "Rules[1].Destination.Bucket", Problem: "is given 2 times"},
			{Field: "Rules[1].Destination.StorageClass", Problem: "is given 2 times"},
		}},
		{parsers[0], "no rules", xmlDoc(testRole)[:strings.Index(xmlDoc(testRole), "<Rule>")] + "</ReplicationConfiguration>", []domain.FieldError{
			{Field: "Rules", Problem: "at least one rule is required"}}},
		{parsers[1], "no rules", `{"Role": "` + testRole + `", "Rules": []}`, []domain.FieldError{
			{Field: "Rules", Problem: "at least one rule is required"}}},
		{parsers[1], "null", `null`, []domain.FieldError{
			{Field: "Role", Problem: "is required"},
			{Field: "Rules", Problem: "at least one rule is required"}}},
		{parsers[1], "null rule", `{"Role": "` + testRole + `", "Rules": [null]}`, []domain.FieldError{
			{Field: "Rules[0].Status", Problem: "is required (Enabled or Disabled)"},
			{Field: "Rules[0].Destination.Bucket", Problem: "is required"},
			{Field: "Rules[0].Destination.StorageClass", Problem: "names no destination site"}}},
		{parsers[0], "everything at once", xmlDoc("arn:aws:iam::1:user/u",
			`<ID>dup</ID><Status>Enabled</Status><Prefix>logs/</Prefix>`+dst,
			`<ID>dup</ID><Status>Paused</Status><Filter><Prefix>logs/2024</Prefix></Filter><Destination><Bucket>arn:aws:s3:::Dst</Bucket><StorageClass>site-a</StorageClass></Destination>`,
			`<Status>Enabled</Status><Prefix>`+strings.Repeat("p", 1025)+`</Prefix><Destination><Bucket>dst</Bucket></Destination>`,
		), []domain.FieldError{
			{Field: "Role", Problem: `"arn:aws:iam::1:user/u" is not an IAM role ARN (arn:aws:iam::<account id or *>:role/<name>)`},
			{Field: "Rules[1].Status", Problem: `is "Paused", want Enabled or Disabled`},
			{Field: "Rules[1].ID", Problem: `duplicate rule ID "dup"`},
			{Field: "Rules[1].Destination.Bucket", Problem: `bucket name "Dst" must contain only lowercase letters, digits, dots and hyphens`},
			{Field: "Rules[1].Prefix", Problem: `prefix "logs/2024" overlaps prefix "logs/" of rule "dup", which also replicates to site "site-a"`},
			{Field: "Rules[2].Prefix", Problem: "is 1025 bytes long, at most 1024 are allowed"},
			{Field: "Rules[2].Destination.Bucket", Problem: `"dst" is not a bucket ARN (arn:aws:s3:::<bucket>)`},
			{Field: "Rules[2].Destination.StorageClass", Problem: "names no destination site"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.parser.name+"/"+tt.name, func(t *testing.T) {
			c, err := tt.parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed as %+v, want problems", c)
			}
			if got := problemsOf(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(c, domain.ReplicationConfig{}) {
				t.Errorf("a configuration is returned with the error: %+v", c)
			}
		})
	}
}

// The parsers leave site membership to the caller, who knows the sites.
func TestParseReplicationConfigLeavesSitesToTheCaller(t *testing.T) {
	doc := `{"Role": "` + testRole + `", "Rules": [{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::dst", "StorageClass": "site-z"}}]}`
	c, err := domain.ParseReplicationConfigJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if ps := problemsOf(t, c.Validate(testSites)); len(ps) != 1 || ps[0].Field != "Rules[0].Destination.StorageClass" {
		t.Errorf("Validate(known sites) problems = %q", ps)
	}
}

func TestMarshalReplicationConfigRoundTrip(t *testing.T) {
	configs := map[string]domain.ReplicationConfig{
		"sample": sampleConfig(),
		"odd prefixes": {Role: testRole, Rules: []domain.ReplicationRule{
			{ID: "a&<b>", Enabled: true, Prefix: "x<&>\"'\r\n\t é", DestinationBucket: "arn:aws:s3:::dst", StorageClass: " site-a , site-b:preferred_read"},
			{ID: "c", Enabled: false, Prefix: "", DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-c"},
		}},
	}
	for name, c := range configs {
		for _, form := range []struct {
			name    string
			marshal func(domain.ReplicationConfig) ([]byte, error)
			parse   func([]byte) (domain.ReplicationConfig, error)
		}{
			{"XML", domain.MarshalReplicationConfigXML, domain.ParseReplicationConfigXML},
			{"JSON", domain.MarshalReplicationConfigJSON, domain.ParseReplicationConfigJSON},
		} {
			t.Run(name+"/"+form.name, func(t *testing.T) {
				data, err := form.marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				got, err := form.parse(data)
				if err != nil {
					t.Fatalf("parse(marshal(c)): %v\n%s", err, data)
				}
				if !reflect.DeepEqual(got, c) {
					t.Errorf("round trip:\n got %+v\nwant %+v\n%s", got, c, data)
				}
			})
		}
	}
	data, _ := domain.MarshalReplicationConfigXML(sampleConfig())
	for _, want := range []string{`<?xml`, `<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`, `<Status>Disabled</Status>`, `<Prefix>img/</Prefix>`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("XML lacks %s:\n%s", want, data)
		}
	}
}

// checkConfigRoundTrip asserts the invariants of a parse result: a parsed
// configuration is valid, and both encodings of it parse back to it.
func checkConfigRoundTrip(t *testing.T, data []byte, c domain.ReplicationConfig, err error) {
	t.Helper()
	if err != nil {
		if err.Error() == "" {
			t.Fatal("empty error message")
		}
		var ce *domain.ConfigError
		if errors.As(err, &ce) && len(ce.Problems) == 0 {
			t.Fatal("*ConfigError without problems")
		}
		return
	}
	if verr := c.Validate(nil); verr != nil {
		t.Fatalf("parsed configuration is invalid: %v (input %q)", verr, data)
	}
	for _, r := range c.Rules {
		if r.ID == "" {
			t.Fatalf("rule without an ID: %+v", r)
		}
	}
	for _, form := range []struct {
		marshal func(domain.ReplicationConfig) ([]byte, error)
		parse   func([]byte) (domain.ReplicationConfig, error)
	}{
		{domain.MarshalReplicationConfigXML, domain.ParseReplicationConfigXML},
		{domain.MarshalReplicationConfigJSON, domain.ParseReplicationConfigJSON},
	} {
		enc, err := form.marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := form.parse(enc)
		if err != nil {
			t.Fatalf("re-parse of %s: %v (input %q)", enc, err, data)
		}
		if !reflect.DeepEqual(c2, c) {
			t.Fatalf("round trip through %s:\n got %+v\nwant %+v", enc, c2, c)
		}
	}
}

func FuzzParseReplicationConfigXML(f *testing.F) {
	f.Add([]byte(sampleConfigXML))
	data, _ := domain.MarshalReplicationConfigXML(validConfig())
	f.Add(data)
	f.Add([]byte(`<ReplicationConfiguration><Role>` + testRole + `</Role><Rule><Status>Enabled</Status><Filter><Prefix>a&#x9;&amp;</Prefix></Filter>` +
		`<Destination><Bucket>arn:aws:s3:::dst</Bucket><StorageClass>site-a</StorageClass></Destination></Rule></ReplicationConfiguration>`))
	f.Add([]byte(`<ReplicationConfiguration><Rule><ID>a</ID><ID>b</ID></Rule></ReplicationConfiguration>`))
	f.Add([]byte(`<ReplicationConfiguration/><x/>`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := domain.ParseReplicationConfigXML(data)
		checkConfigRoundTrip(t, data, c, err)
	})
}

func FuzzParseReplicationConfigJSON(f *testing.F) {
	f.Add([]byte(sampleConfigJSON))
	data, _ := domain.MarshalReplicationConfigJSON(validConfig())
	f.Add(data)
	f.Add([]byte(`{"Role":"` + testRole + `","Rules":[{"Status":"Enabled","Filter":{"Prefix":"\u0000\ud800"},"Destination":{"Bucket":"arn:aws:s3:::dst","StorageClass":"a"}}]}`))
	f.Add([]byte(`{"Rules":[null,{"Filter":{"Tag":null}}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"Role":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := domain.ParseReplicationConfigJSON(data)
		checkConfigRoundTrip(t, data, c, err)
	})
}
