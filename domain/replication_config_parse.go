package domain

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// Parsing of the two document forms of a replication configuration, XML
// (PutBucketReplication) and JSON (the aws CLI's), into a checked
// ReplicationConfig.

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
