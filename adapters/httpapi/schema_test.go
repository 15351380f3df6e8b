package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// openAPIDoc is the part of an OpenAPI 3 document the tests read.
type openAPIDoc struct {
	Paths      map[string]map[string]*operation `yaml:"paths"`
	Components struct {
		Schemas    map[string]*schema    `yaml:"schemas"`
		Parameters map[string]*parameter `yaml:"parameters"`
		Responses  map[string]*response  `yaml:"responses"`
	} `yaml:"components"`
}

type operation struct {
	OperationID string                `yaml:"operationId"`
	Parameters  []*parameter          `yaml:"parameters"`
	RequestBody *requestBody          `yaml:"requestBody"`
	Responses   map[string]*response  `yaml:"responses"`
	Security    []map[string][]string `yaml:"security"`
}

type parameter struct {
	Ref      string  `yaml:"$ref"`
	Name     string  `yaml:"name"`
	In       string  `yaml:"in"`
	Required bool    `yaml:"required"`
	Schema   *schema `yaml:"schema"`
}

type requestBody struct {
	Required bool                  `yaml:"required"`
	Content  map[string]*mediaType `yaml:"content"`
}

type response struct {
	Ref     string                `yaml:"$ref"`
	Content map[string]*mediaType `yaml:"content"`
}

type mediaType struct {
	Schema  *schema `yaml:"schema"`
	Example any     `yaml:"example"`
}

// schema is the subset of JSON Schema that openapi.yaml uses.
type schema struct {
	Ref                  string             `yaml:"$ref"`
	Type                 string             `yaml:"type"`
	Properties           map[string]*schema `yaml:"properties"`
	Required             []string           `yaml:"required"`
	AdditionalProperties yaml.Node          `yaml:"additionalProperties"`
	Items                *schema            `yaml:"items"`
	Enum                 []any              `yaml:"enum"`
	Pattern              string             `yaml:"pattern"`
	MinLength            *int               `yaml:"minLength"`
	Minimum              *float64           `yaml:"minimum"`
	Maximum              *float64           `yaml:"maximum"`
	MinItems             *int               `yaml:"minItems"`
	MaxItems             *int               `yaml:"maxItems"`
	AllOf                []*schema          `yaml:"allOf"`
}

func parseOpenAPI(data []byte) (*openAPIDoc, error) {
	var doc openAPIDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

func (d *openAPIDoc) param(p *parameter) *parameter {
	if p.Ref != "" {
		return d.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
	}
	return p
}

func (d *openAPIDoc) response(r *response) *response {
	if r != nil && r.Ref != "" {
		return d.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
	}
	return r
}

func (d *openAPIDoc) resolve(s *schema) (*schema, error) {
	for s != nil && s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		next, ok := d.Components.Schemas[name]
		if !ok {
			return nil, fmt.Errorf("unknown schema reference %s", s.Ref)
		}
		s = next
	}
	return s, nil
}

// validate checks a decoded JSON value against s; it returns every problem.
func (d *openAPIDoc) validate(s *schema, v any, at string) []string {
	s, err := d.resolve(s)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	if s == nil {
		return nil
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, at+": "+fmt.Sprintf(format, args...)) }
	for _, sub := range s.AllOf {
		problems = append(problems, d.validate(sub, v, at)...)
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		bad("%v is not one of %v", v, s.Enum)
	}
	switch s.Type {
	case "":
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("want an object, got %T", v)
			break
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				bad("required member %q is missing", r)
			}
		}
		for k, mv := range m {
			if ps, ok := s.Properties[k]; ok {
				problems = append(problems, d.validate(ps, mv, at+"."+k)...)
				continue
			}
			switch ap := s.AdditionalProperties; {
			case ap.Kind == 0:
			case ap.Kind == yaml.ScalarNode && ap.Value == "false":
				bad("member %q is not in the schema", k)
			case ap.Kind == yaml.MappingNode:
				var sub schema
				if err := ap.Decode(&sub); err != nil {
					bad("additionalProperties: %v", err)
					break
				}
				problems = append(problems, d.validate(&sub, mv, at+"."+k)...)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("want an array, got %T", v)
			break
		}
		if s.MinItems != nil && len(a) < *s.MinItems {
			bad("%d items, want at least %d", len(a), *s.MinItems)
		}
		if s.MaxItems != nil && len(a) > *s.MaxItems {
			bad("%d items, want at most %d", len(a), *s.MaxItems)
		}
		for i, e := range a {
			problems = append(problems, d.validate(s.Items, e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("want a string, got %T", v)
			break
		}
		if s.MinLength != nil && len(str) < *s.MinLength {
			bad("%q is shorter than %d", str, *s.MinLength)
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			bad("%q does not match %s", str, s.Pattern)
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			bad("want a number, got %T", v)
			break
		}
		f, err := n.Float64()
		if err != nil {
			bad("%v: %v", n, err)
			break
		}
		if s.Type == "integer" && f != math.Trunc(f) {
			bad("%v is not an integer", n)
		}
		if s.Minimum != nil && f < *s.Minimum {
			bad("%v is below %v", n, *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			bad("%v is above %v", n, *s.Maximum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("want a boolean, got %T", v)
		}
	default:
		bad("schema type %q is not supported by the test validator", s.Type)
	}
	return problems
}

// decodeJSON decodes with numbers kept as json.Number.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
