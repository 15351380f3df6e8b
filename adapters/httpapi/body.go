package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// objectBody is a request body that must be a JSON object, read member by
// member so that the answer to a bad body lists every problem it has, not
// the first one encoding/json meets.
type objectBody struct {
	members  map[string]json.RawMessage
	problems []string
}

// parseObject parses body as a JSON object and lets read decode its
// members into a T; the answer is 400 with every problem noted.
func parseObject[T any](body []byte, read func(*objectBody, *T)) (T, error) {
	var zero, v T
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return zero, errMalformed(`body must be a JSON object such as {"bucket": "photos"}`)
	}
	o := &objectBody{members: members}
	read(o, &v)
	if len(o.problems) > 0 {
		return zero, errMalformed("%s", strings.Join(o.problems, "; "))
	}
	return v, nil
}

// field decodes member name into dst when it is present and not null. It
// reports false, noting "<name> must be <what>", when the member has
// another type.
func (o *objectBody) field(name string, dst any, what string) bool {
	v, ok := o.members[name]
	if !ok || string(v) == "null" {
		return true
	}
	if err := json.NewDecoder(bytes.NewReader(v)).Decode(dst); err != nil {
		o.problem("%s must be %s", name, what)
		return false
	}
	return true
}

// jobScope decodes what every job request has: the bucket (required), the
// prefix and the sites.
func (o *objectBody) jobScope(bucket, prefix *string, sites *[]string) {
	if o.field("bucket", bucket, "a string") && *bucket == "" {
		o.problem("bucket is required")
	}
	o.field("prefix", prefix, "a string")
	o.field("sites", sites, "an array of site names")
}

// problem notes a problem of the body.
func (o *objectBody) problem(format string, args ...any) {
	o.problems = append(o.problems, fmt.Sprintf(format, args...))
}
