package config

import (
	"reflect"
	"strings"
)

// field is one YAML key of a struct type, found through its yaml tag.
type field struct {
	key   string
	index []int // for reflect.Value.FieldByIndex; longer than 1 for inline fields
}

// structFields lists the YAML keys of struct type t the way yaml v3 names
// them: the tag's name, else the lower-cased field name; "-" hides a field
// and ",inline" lifts an embedded struct's keys into t's.
func structFields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if hasOption(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			for _, inner := range structFields(sf.Type) {
				inner.index = append([]int{i}, inner.index...)
				out = append(out, inner)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{key: name, index: []int{i}})
	}
	return out
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// lookupField finds the field for key; fold makes the match
// case-insensitive, which env variable names and "did you mean" need.
func lookupField(fields []field, key string, fold bool) (field, bool) {
	for _, f := range fields {
		if f.key == key || (fold && strings.EqualFold(f.key, key)) {
			return f, true
		}
	}
	return field{}, false
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
