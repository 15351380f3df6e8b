package domain

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Checks of a replication configuration: those of AWS PutBucketReplication,
// each problem named by its field.

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
