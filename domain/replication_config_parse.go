package domain

import (
	"bytes"
	"cmp"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of a replication configuration, as AWS and CloudServer set them.
const (
	MaxReplicationRules = 1000
	MaxRuleIDLength     = 255  // characters
	MaxRulePrefixLength = 1024 // bytes, the length limit of an object key
	MaxRoleARNs         = 2    // source role, and optionally destination role
	// MaxRuleSites bounds the sites of one rule. Upstream sets no bound, but
	// a deployment has a handful of sites, and the bound keeps validation
	// of hostile input cheap.
	MaxRuleSites = 32
)

// s3Namespace is the XML namespace of S3 API documents.
const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// awsStorageClasses are storage classes AWS accepts in a rule's
// StorageClass. This service replicates to sites, so it names them only to
// explain why they are refused.
var awsStorageClasses = []string{"STANDARD", "STANDARD_IA", "REDUCED_REDUNDANCY"}

// FieldError is one problem of a configuration: the field, named as in the
// AWS document (Role, Rules[2].Destination.Bucket), and what is wrong with it.
type FieldError struct {
	Field   string
	Problem string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Problem }

// ConfigError lists every problem found in a replication configuration, so
// that whoever wrote it can fix them all in one go.
type ConfigError struct {
	Problems []FieldError
}

func (e *ConfigError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return "replication configuration: " + strings.Join(msgs, "; ")
}

// problems collects FieldErrors.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// err returns the problems as a *ConfigError, or nil (an untyped nil, so
// that callers can compare the error with nil) when there are none. The
// problems are ordered as the document is: Role, Rules, then rule by rule.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	slices.SortStableFunc(p, func(a, b FieldError) int { return cmp.Compare(fieldRank(a.Field), fieldRank(b.Field)) })
	return &ConfigError{Problems: p}
}

// fieldRank orders a field by its place in the document.
func fieldRank(field string) int {
	if field == "Role" {
		return -2
	}
	rest, ok := strings.CutPrefix(field, "Rules[")
	if !ok {
		return -1
	}
	digits, _, _ := strings.Cut(rest, "]")
	n, err := strconv.Atoi(digits)
	if err != nil {
		return -1
	}
	return n
}

// Validate checks the configuration and returns a *ConfigError listing all
// its problems, or nil. knownSites are the destination sites the service
// replicates to: every site a rule names must be one of them. With a nil
// knownSites the membership check is skipped (a parser has no site list);
// an empty, non-nil knownSites means no site is configured, so every site
// is refused.
func (c ReplicationConfig) Validate(knownSites []string) error {
	return c.problems(knownSites).err()
}

func (c ReplicationConfig) problems(knownSites []string) problems {
	var ps problems
	validateRole(&ps, c.Role)
	switch n := len(c.Rules); {
	case n == 0:
		ps.add("Rules", "at least one rule is required")
	case n > MaxReplicationRules:
		ps.add("Rules", "has %d rules, at most %d are allowed", n, MaxReplicationRules)
	}
	ruleSites := make([][]string, len(c.Rules))
	ruleSiteSets := make([]map[string]bool, len(c.Rules))
	sizeOK := len(c.Rules) <= MaxReplicationRules
	seenIDs := map[string]bool{}
	for i, r := range c.Rules {
		field := fmt.Sprintf("Rules[%d]", i)
		switch {
		case r.ID == "":
			ps.add(field+".ID", "is empty")
		case utf8.RuneCountInString(r.ID) > MaxRuleIDLength:
			ps.add(field+".ID", "is %d characters long, at most %d are allowed", utf8.RuneCountInString(r.ID), MaxRuleIDLength)
		}
		if problem := textProblem(r.ID); problem != "" {
			ps.add(field+".ID", "%s", problem)
		}
		if r.ID != "" && seenIDs[r.ID] {
			ps.add(field+".ID", "duplicate rule ID %q", r.ID)
		}
		seenIDs[r.ID] = true
		if len(r.Prefix) > MaxRulePrefixLength {
			ps.add(field+".Prefix", "is %d bytes long, at most %d are allowed", len(r.Prefix), MaxRulePrefixLength)
		}
		if problem := textProblem(r.Prefix); problem != "" {
			ps.add(field+".Prefix", "%s", problem)
		}
		if problem := textProblem(r.StorageClass); problem != "" {
			ps.add(field+".Destination.StorageClass", "%s", problem)
		}
		validateDestinationBucket(&ps, field+".Destination.Bucket", r.DestinationBucket)
		ruleSites[i], ruleSiteSets[i] = validateSites(&ps, field+".Destination.StorageClass", r, knownSites)
		sizeOK = sizeOK && len(ruleSites[i]) <= MaxRuleSites
	}
	// Two rules that could both match a key and send it to the same site are
	// ambiguous; AWS refuses them. The check is quadratic, so it only runs
	// on a configuration of allowed size.
	if sizeOK {
		for j := range c.Rules {
			if i, site, ok := overlappingRule(c.Rules, ruleSites, ruleSiteSets, j); ok {
				ps.add(fmt.Sprintf("Rules[%d].Prefix", j), "prefix %q overlaps prefix %q of rule %q, which also replicates to site %q",
					c.Rules[j].Prefix, c.Rules[i].Prefix, c.Rules[i].ID, site)
			}
		}
	}
	return ps
}

// textProblem says why s cannot be part of a configuration, or returns "".
// GetBucketReplication answers in XML, so a configuration, whichever form
// it came in, must hold only what XML 1.0 can carry.
func textProblem(s string) string {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			if !utf8.ValidString(s) {
				return "is not valid UTF-8"
			}
		case r == '\t' || r == '\n' || r == '\r',
			0x20 <= r && r <= 0xD7FF, 0xE000 <= r && r <= 0xFFFD, 0x10000 <= r:
		default:
			return fmt.Sprintf("contains %U, which an XML document cannot carry", r)
		}
	}
	return ""
}

// overlappingRule finds an earlier rule whose prefix is a prefix of rule
// j's or the other way round, and that shares a destination site with it.
func overlappingRule(rules []ReplicationRule, sites [][]string, siteSets []map[string]bool, j int) (i int, site string, ok bool) {
	pj := rules[j].Prefix
	for i := range j {
		pi := rules[i].Prefix
		if !strings.HasPrefix(pi, pj) && !strings.HasPrefix(pj, pi) {
			continue
		}
		for _, s := range sites[j] {
			if siteSets[i][s] {
				return i, s, true
			}
		}
	}
	return 0, "", false
}

// validateRole checks Role: one IAM role ARN, or two separated by a comma
// (source and destination roles, as CloudServer-to-CloudServer replication
// uses).
func validateRole(ps *problems, role string) {
	if role == "" {
		ps.add("Role", "is required")
		return
	}
	arns := strings.Split(role, ",")
	if len(arns) > MaxRoleARNs {
		ps.add("Role", "names %d role ARNs, at most %d are allowed", len(arns), MaxRoleARNs)
	}
	for _, arn := range arns {
		if !isRoleARN(arn) {
			ps.add("Role", "%q is not an IAM role ARN (arn:aws:iam::<account id or *>:role/<name>)", arn)
		}
	}
}

// isRoleARN reports whether s is arn:aws:iam::<account>:role/<name>. The
// account is * or an id of letters, digits, hyphens and underscores:
// CloudServer's own tests use ids that are not AWS's twelve digits.
func isRoleARN(s string) bool {
	rest, ok := strings.CutPrefix(s, "arn:aws:iam::")
	if !ok {
		return false
	}
	account, rest, ok := strings.Cut(rest, ":")
	if !ok || account != "*" && !isName(account, "-_") {
		return false
	}
	name, ok := strings.CutPrefix(rest, "role/")
	return ok && isName(name, "+=.@_-/") && !strings.HasPrefix(name, "/") && !strings.HasSuffix(name, "/")
}

// isName reports whether s is non-empty and made of ASCII letters, digits
// and the bytes of extra.
func isName(s, extra string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isASCIIAlnum(c) && strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return true
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func validateDestinationBucket(ps *problems, field, arn string) {
	if arn == "" {
		ps.add(field, "is required")
		return
	}
	name, ok := strings.CutPrefix(arn, DestinationBucketPrefix)
	if !ok {
		ps.add(field, "%q is not a bucket ARN (%s<bucket>)", arn, DestinationBucketPrefix)
		return
	}
	if problem := bucketNameProblem(name); problem != "" {
		ps.add(field, "bucket name %q %s", name, problem)
	}
}

// bucketNameProblem says why name is not a valid S3 bucket name, or
// returns "".
func bucketNameProblem(name string) string {
	switch {
	case len(name) < 3 || len(name) > 63:
		return "must be 3 to 63 characters long"
	case !isASCIIAlnum(name[0]) || !isASCIIAlnum(name[len(name)-1]):
		return "must start and end with a lowercase letter or a digit"
	case strings.Contains(name, ".."):
		return "must not contain two adjacent dots"
	case isIPv4(name):
		return "must not be formatted as an IP address"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return "must contain only lowercase letters, digits, dots and hyphens"
		}
	}
	return ""
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// validateSites checks the sites a rule's StorageClass names and returns
// them, as a list and as a set.
func validateSites(ps *problems, field string, r ReplicationRule, knownSites []string) ([]string, map[string]bool) {
	sites := r.Sites()
	switch {
	case len(sites) == 0:
		ps.add(field, "names no destination site")
	case len(sites) > MaxRuleSites:
		ps.add(field, "names %d sites, at most %d are allowed", len(sites), MaxRuleSites)
	}
	known := make(map[string]bool, len(knownSites))
	for _, s := range knownSites {
		known[s] = true
	}
	set := make(map[string]bool, len(sites))
	for _, s := range sites {
		if set[s] {
			ps.add(field, "names site %q more than once", s)
			continue
		}
		set[s] = true
		if knownSites == nil || known[s] {
			continue
		}
		knownList := "no site is configured"
		if len(knownSites) > 0 {
			knownList = "known sites: " + strings.Join(knownSites, ", ")
		}
		if slices.Contains(awsStorageClasses, s) {
			ps.add(field, "storage class %s is not a destination site: name one or more sites (%s)", s, knownList)
		} else {
			ps.add(field, "unknown site %q (%s)", s, knownList)
		}
	}
	return sites, set
}

// wireRule is a rule as either document form states it, before it is
// checked and turned into a ReplicationRule.
type wireRule struct {
	ID, Status, Prefix   string
	HasPrefix            bool
	FilterPrefix         string
	HasFilterPrefix      bool
	HasTagFilter         bool
	Bucket, StorageClass string
}

// Rule statuses of the AWS document.
const (
	ruleEnabled  = "Enabled"
	ruleDisabled = "Disabled"
)

// buildConfig checks what only the document form can tell (rule statuses,
// filters), fills missing rule IDs, and validates the result, reporting
// every problem at once.
func buildConfig(role string, rules []wireRule, ps problems) (ReplicationConfig, error) {
	c := ReplicationConfig{Role: role}
	if len(rules) > 0 {
		c.Rules = make([]ReplicationRule, len(rules))
	}
	for i, w := range rules {
		field := fmt.Sprintf("Rules[%d]", i)
		switch w.Status {
		case ruleEnabled, ruleDisabled:
		case "":
			ps.add(field+".Status", "is required (Enabled or Disabled)")
		default:
			ps.add(field+".Status", "is %q, want Enabled or Disabled", w.Status)
		}
		prefix := w.Prefix
		if w.HasFilterPrefix {
			if w.HasPrefix && w.Prefix != w.FilterPrefix {
				ps.add(field+".Filter", "Prefix %q and Filter.Prefix %q differ: give only one", w.Prefix, w.FilterPrefix)
			}
			prefix = w.FilterPrefix
		}
		if w.HasTagFilter {
			ps.add(field+".Filter", "only Prefix filters are supported, not Tag or And")
		}
		c.Rules[i] = ReplicationRule{
			ID:                w.ID,
			Enabled:           w.Status == ruleEnabled,
			Prefix:            prefix,
			DestinationBucket: w.Bucket,
			StorageClass:      w.StorageClass,
		}
	}
	fillRuleIDs(c.Rules)
	ps = append(ps, c.problems(nil)...)
	if err := ps.err(); err != nil {
		return ReplicationConfig{}, err
	}
	return c, nil
}

// fillRuleIDs gives each rule without an ID a generated one, rule-<index>,
// unique among the configuration's IDs, as AWS and CloudServer generate
// one when the document has none.
func fillRuleIDs(rules []ReplicationRule) {
	used := map[string]bool{}
	for _, r := range rules {
		used[r.ID] = true
	}
	for i := range rules {
		if rules[i].ID != "" {
			continue
		}
		id := fmt.Sprintf("rule-%d", i)
		for n := 2; used[id]; n++ {
			id = fmt.Sprintf("rule-%d-%d", i, n)
		}
		used[id] = true
		rules[i].ID = id
	}
}

// The XML document of PutBucketReplication. Elements are decoded into
// slices so that an element given twice is reported instead of silently
// overwritten; unknown elements are ignored.
type xmlConfig struct {
	XMLName xml.Name  `xml:"ReplicationConfiguration"`
	Xmlns   string    `xml:"xmlns,attr,omitempty"`
	Role    []string  `xml:"Role"`
	Rules   []xmlRule `xml:"Rule"`
}

type xmlRule struct {
	ID          []string         `xml:"ID"`
	Status      []string         `xml:"Status"`
	Prefix      []string         `xml:"Prefix"`
	Filter      []xmlFilter      `xml:"Filter"`
	Destination []xmlDestination `xml:"Destination"`
}

type xmlFilter struct {
	Prefix []string   `xml:"Prefix"`
	Tag    []struct{} `xml:"Tag"`
	And    []struct{} `xml:"And"`
}

type xmlDestination struct {
	Bucket       []string `xml:"Bucket"`
	StorageClass []string `xml:"StorageClass"`
}

// one returns the single value of an element, reporting it when given more
// than once.
func one[T any](ps *problems, field string, vals []T) (v T, present bool) {
	switch len(vals) {
	case 0:
		return v, false
	case 1:
	default:
		ps.add(field, "is given %d times", len(vals))
	}
	return vals[0], true
}

// ParseReplicationConfigXML parses the XML body of an S3
// PutBucketReplication request and validates it (see Validate; the site
// membership check is left to the caller, who knows the sites). A document
// that is not well-formed gets an error naming the syntax problem; a
// well-formed but invalid one gets a *ConfigError listing all problems.
// Rules without an ID get a generated one, rule-<index> (0-based).
func ParseReplicationConfigXML(data []byte) (ReplicationConfig, error) {
	var doc xmlConfig
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) && len(bytes.TrimSpace(data)) == 0 {
			return ReplicationConfig{}, errors.New("replication configuration: XML document is empty")
		}
		if errors.Is(err, io.EOF) {
			return ReplicationConfig{}, errors.New("replication configuration: malformed XML: no root element")
		}
		return ReplicationConfig{}, fmt.Errorf("replication configuration: malformed XML: %w", err)
	}
	if err := xmlTrailer(dec); err != nil {
		return ReplicationConfig{}, err
	}
	var ps problems
	role, _ := one(&ps, "Role", doc.Role)
	rules := make([]wireRule, len(doc.Rules))
	for i, r := range doc.Rules {
		field := fmt.Sprintf("Rules[%d]", i)
		w := &rules[i]
		w.ID, _ = one(&ps, field+".ID", r.ID)
		w.Status, _ = one(&ps, field+".Status", r.Status)
		w.Prefix, w.HasPrefix = one(&ps, field+".Prefix", r.Prefix)
		if f, ok := one(&ps, field+".Filter", r.Filter); ok {
			w.FilterPrefix, w.HasFilterPrefix = one(&ps, field+".Filter.Prefix", f.Prefix)
			w.HasTagFilter = len(f.Tag) > 0 || len(f.And) > 0
		}
		if d, ok := one(&ps, field+".Destination", r.Destination); ok {
			w.Bucket, _ = one(&ps, field+".Destination.Bucket", d.Bucket)
			w.StorageClass, _ = one(&ps, field+".Destination.StorageClass", d.StorageClass)
		}
	}
	return buildConfig(role, rules, ps)
}

// xmlTrailer refuses anything but comments, processing instructions and
// white space after the root element.
func xmlTrailer(dec *xml.Decoder) error {
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("replication configuration: malformed XML after the root element: %w", err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errors.New("replication configuration: malformed XML: text after the root element")
			}
		default:
			return errors.New("replication configuration: malformed XML: more than one root element")
		}
	}
}

// MarshalReplicationConfigXML encodes c as the XML document of S3
// GetBucketReplication, which ParseReplicationConfigXML reads back.
func MarshalReplicationConfigXML(c ReplicationConfig) ([]byte, error) {
	doc := xmlConfig{Xmlns: s3Namespace, Role: []string{c.Role}}
	for _, r := range c.Rules {
		doc.Rules = append(doc.Rules, xmlRule{
			ID:     []string{r.ID},
			Status: []string{ruleStatus(r)},
			Prefix: []string{r.Prefix},
			Destination: []xmlDestination{{
				Bucket:       []string{r.DestinationBucket},
				StorageClass: []string{r.StorageClass},
			}},
		})
	}
	out, err := xml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("replication configuration: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}

func ruleStatus(r ReplicationRule) string {
	if r.Enabled {
		return ruleEnabled
	}
	return ruleDisabled
}

// The JSON document `aws s3api put-bucket-replication
// --replication-configuration` takes. Unknown fields are ignored.
type jsonConfig struct {
	Role  string     `json:"Role"`
	Rules []jsonRule `json:"Rules"`
}

type jsonRule struct {
	ID          string           `json:"ID"`
	Status      string           `json:"Status"`
	Prefix      *string          `json:"Prefix,omitempty"`
	Filter      *jsonFilter      `json:"Filter,omitempty"`
	Destination *jsonDestination `json:"Destination,omitempty"`
}

type jsonFilter struct {
	Prefix *string         `json:"Prefix,omitempty"`
	Tag    json.RawMessage `json:"Tag,omitempty"`
	And    json.RawMessage `json:"And,omitempty"`
}

type jsonDestination struct {
	Bucket       string `json:"Bucket"`
	StorageClass string `json:"StorageClass,omitempty"`
}

// ParseReplicationConfigJSON parses the JSON form of a replication
// configuration, the one the AWS CLI's put-bucket-replication takes, and
// validates it as ParseReplicationConfigXML does.
func ParseReplicationConfigJSON(data []byte) (ReplicationConfig, error) {
	var doc jsonConfig
	if err := json.Unmarshal(data, &doc); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			field := "the document"
			if typeErr.Field != "" {
				field = "field " + typeErr.Field
			}
			return ReplicationConfig{}, fmt.Errorf("replication configuration: %s is a JSON %s, want %s", field, typeErr.Value, jsonKind(typeErr.Type))
		}
		return ReplicationConfig{}, fmt.Errorf("replication configuration: malformed JSON: %w", err)
	}
	rules := make([]wireRule, len(doc.Rules))
	for i, r := range doc.Rules {
		w := &rules[i]
		w.ID, w.Status = r.ID, r.Status
		if r.Prefix != nil {
			w.Prefix, w.HasPrefix = *r.Prefix, true
		}
		if f := r.Filter; f != nil {
			if f.Prefix != nil {
				w.FilterPrefix, w.HasFilterPrefix = *f.Prefix, true
			}
			w.HasTagFilter = isJSONValue(f.Tag) || isJSONValue(f.And)
		}
		if d := r.Destination; d != nil {
			w.Bucket, w.StorageClass = d.Bucket, d.StorageClass
		}
	}
	return buildConfig(doc.Role, rules, nil)
}

func isJSONValue(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// jsonKind names the JSON type a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	}
	return t.Kind().String()
}

// MarshalReplicationConfigJSON encodes c in the JSON form that
// ParseReplicationConfigJSON reads back.
func MarshalReplicationConfigJSON(c ReplicationConfig) ([]byte, error) {
	doc := jsonConfig{Role: c.Role, Rules: make([]jsonRule, len(c.Rules))}
	for i, r := range c.Rules {
		doc.Rules[i] = jsonRule{
			ID:          r.ID,
			Status:      ruleStatus(r),
			Prefix:      &r.Prefix,
			Destination: &jsonDestination{Bucket: r.DestinationBucket, StorageClass: r.StorageClass},
		}
	}
	return json.Marshal(doc)
}
