package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/openbackbeat/backbeat/adapters/mongometa"
)

// setting is one leaf of the configuration tree: its YAML path
// ("kafka.sessionTimeout", "sites[0].s3.endpoint"), its environment
// variable (BACKBEAT_KAFKA_SESSIONTIMEOUT, BACKBEAT_SITES_0_S3_ENDPOINT) and
// the field itself.
type setting struct {
	path, env string
	field     reflect.StructField
	value     reflect.Value
}

// settings lists every leaf of v, a pointer to a Config, in declaration
// order. A field's name is the first word of its yaml tag; ",inline"
// fields add no name; `yaml:"-"` fields are not settings. Slices of
// structs (sites) are walked element by element.
func settings(v reflect.Value) []setting {
	var out []setting
	var walk func(v reflect.Value, path, env string)
	walk = func(v reflect.Value, path, env string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			p, e := path, env
			if opts != "inline" {
				p, e = join(path, name), env+"_"+strings.ToUpper(name)
			}
			fv := v.Field(i)
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(fv, p, e)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				for j := range fv.Len() {
					walk(fv.Index(j), fmt.Sprintf("%s[%d]", p, j), fmt.Sprintf("%s_%d", e, j))
				}
			default:
				out = append(out, setting{path: p, env: e, field: f, value: fv})
			}
		}
	}
	walk(v.Elem(), "", "BACKBEAT")
	return out
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// applyEnv sets fields from BACKBEAT_<PATH> variables, where PATH is the
// field's YAML path upper-cased and joined by underscores, e.g.
// BACKBEAT_MONGO_URI, BACKBEAT_KAFKA_BROKERS (comma separated),
// BACKBEAT_REPLICATION_CONCURRENCY, BACKBEAT_API_TOKEN, and
// BACKBEAT_SITES_0_S3_SECRETKEY for the first site of the file.
func applyEnv(cfg *Config, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "BACKBEAT_") {
			vars[k] = v
		}
	}
	var errs []error
	for _, s := range settings(reflect.ValueOf(cfg)) {
		raw, ok := vars[s.env]
		if !ok {
			continue
		}
		if err := setFromString(s.value, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
		}
	}
	return errors.Join(errs...)
}

func setFromString(v reflect.Value, raw string) error {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.CanInt():
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not an integer of %d bits: %q", v.Type().Bits(), raw)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", raw)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		parts := strings.Split(raw, ",")
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// masked returns a copy of c whose secrets are hidden: fields tagged
// `secret:"true"` (passwords, keys, tokens) print as ****, and those
// tagged `secret:"uri"` (connection strings) lose their password.
func (c Config) masked() Config {
	c.Sites = append([]SiteConfig(nil), c.Sites...)
	for _, s := range settings(reflect.ValueOf(&c)) {
		switch s.field.Tag.Get("secret") {
		case "true":
			if s.value.String() != "" {
				s.value.SetString("****")
			}
		case "uri":
			s.value.SetString(mongometa.RedactURI(s.value.String()))
		}
	}
	return c
}

// MarshalYAML prints the configuration with its secrets masked, wherever
// it is printed.
func (c Config) MarshalYAML() (any, error) {
	type plain Config // no MarshalYAML method: no recursion
	return plain(c.masked()), nil
}

func printConfig(w io.Writer, cfg Config) error {
	enc := yaml.NewEncoder(w)
	defer enc.Close()
	return enc.Encode(cfg)
}
