package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// envPrefix starts every override variable, as in distribution.
const envPrefix = "REGISTRY_"

// applyEnv applies the REGISTRY_* variables of environ ("NAME=value"
// entries) onto v. Unknown variables become warnings; values that do not
// parse are errors naming the variable.
func (d *decoder) applyEnv(v reflect.Value, environ []string) error {
	vars := overrideVars(environ)
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	// Name order puts REGISTRY_LOG before REGISTRY_LOG_LEVEL, so a whole
	// section set by one variable does not undo a single key set by another.
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		d.env = name
		if !utf8.ValidString(vars[name]) {
			// YAML holds text only: such a value could not be written back
			// (config check, masked dumps) as what was set.
			errs = append(errs, fmt.Errorf("%s: the value is not valid UTF-8 text", name))
			continue
		}
		segs := strings.Split(strings.TrimPrefix(name, envPrefix), "_")
		errs = append(errs, d.setEnv(v, segs, "", vars[name]))
	}
	d.env = ""
	return errors.Join(errs...)
}

// overrideVars picks the REGISTRY_* entries of environ; the first of
// duplicate names wins, matching os.Getenv.
func overrideVars(environ []string) map[string]string {
	vars := make(map[string]string)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) {
			continue
		}
		if _, dup := vars[name]; !dup {
			vars[name] = value
		}
	}
	return vars
}

// setEnv follows segs (the variable name's parts after REGISTRY_) down from
// v, whose dotted key is path, and stores raw at the end.
func (d *decoder) setEnv(v reflect.Value, segs []string, path, raw string) error {
	if len(segs) == 0 {
		return d.setEnvValue(v, path, raw)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.setEnv(v.Elem(), segs, path, raw)
	case reflect.Struct:
		return d.setEnvStruct(v, segs, path, raw)
	case reflect.Map:
		if v.Type().Key().Kind() == reflect.String {
			return d.setEnvMap(v, segs, path, raw)
		}
	case reflect.Slice:
		if i, err := strconv.Atoi(segs[0]); err == nil && i >= 0 && i < maxEnvIndex {
			return d.setEnvIndex(v, i, segs[1:], path, raw)
		}
	}
	return d.unknownEnv(path, segs, raw)
}

// maxEnvIndex bounds the list index a variable may name, so that
// REGISTRY_..._HOSTS_99999999 cannot allocate a huge list.
const maxEnvIndex = 1000

// setEnvIndex sets element i of a list, as distribution documents for
// lists (REGISTRY_HTTP_TLS_LETSENCRYPT_HOSTS_0=registry.example.com),
// growing the list with empty elements when it is shorter.
func (d *decoder) setEnvIndex(v reflect.Value, i int, segs []string, path, raw string) error {
	if v.Len() <= i {
		grown := reflect.MakeSlice(v.Type(), i+1, i+1)
		reflect.Copy(grown, v)
		v.Set(grown)
	}
	return d.setEnv(v.Index(i), segs, fmt.Sprintf("%s[%d]", path, i), raw)
}

// setEnvStruct matches a field key against one or more leading segments, so
// a key that itself contains "_" can still be reached.
func (d *decoder) setEnvStruct(v reflect.Value, segs []string, path, raw string) error {
	fields := structFields(v.Type())
	for i := 1; i <= len(segs); i++ {
		if f, ok := lookupField(fields, strings.Join(segs[:i], "_"), true); ok {
			fv, p := v.FieldByIndex(f.index), joinPath(path, f.key)
			d.knownKey(nil, envNode(raw), p, fv.Type())
			return d.setEnv(fv, segs[i:], p, raw)
		}
	}
	return d.unknownEnv(path, segs, raw)
}

// setEnvMap takes the rest of the name as the entry's key when entries are
// plain values (log.fields.my_key), or its next segment when entries have
// keys of their own.
func (d *decoder) setEnvMap(v reflect.Value, segs []string, path, raw string) error {
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	key, rest := strings.ToLower(strings.Join(segs, "_")), []string(nil)
	if hasKeys(v.Type().Elem()) {
		key, rest = strings.ToLower(segs[0]), segs[1:]
	}
	return d.setMapEntry(v, key, path, func(elem reflect.Value, p string) error {
		return d.setEnv(elem, rest, p, raw)
	})
}

func hasKeys(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct || t.Kind() == reflect.Map
}

// unknownEnv judges a variable that names no key of Config, as unknownKey
// judges a key of the file: the table of distribution's keys may refuse
// it or call it harmless; otherwise it is a typo.
func (d *decoder) unknownEnv(path string, segs []string, raw string) error {
	for i := 1; i <= len(segs); i++ {
		p := joinPath(path, strings.ToLower(strings.Join(segs[:i], "_")))
		if _, _, ok := classify(p); !ok {
			continue
		}
		if rest := segs[i:]; len(rest) > 0 {
			p = joinPath(p, strings.ToLower(strings.Join(rest, ".")))
		}
		_, err := d.judge(nil, envNode(raw), p, "")
		return err
	}
	d.warn("not a known setting; ignored")
	return nil
}

// envNode reads a variable's value as YAML, so a section set from the
// environment is judged like one in the file; a value that is not YAML is
// taken as a plain string.
func envNode(raw string) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &doc); err == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		if _, _, cyclic := aliasCycle(doc.Content[0]); !cyclic {
			return doc.Content[0]
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: raw}
}

// setEnvValue parses raw for the value v at path. Strings are taken
// verbatim (a secret may contain ": " or "#"); scalars are read as a plain
// YAML scalar, so they follow the file's rules; sections and lists are
// parsed as YAML text.
func (d *decoder) setEnvValue(v reflect.Value, path, raw string) error {
	if v.Kind() == reflect.String {
		v.SetString(raw)
		d.record(path, nil)
		return nil
	}
	if raw == "" {
		// In a file, null keeps the default; a variable set to nothing is
		// more likely a mistake than a request for the default.
		return &FieldError{Key: path, Env: d.env, Err: errors.New("empty value")}
	}
	if isScalarTarget(v) {
		return d.decode(&yaml.Node{Kind: yaml.ScalarNode, Value: raw}, v, path)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		return &FieldError{Key: path, Env: d.env, Err: fmt.Errorf("invalid YAML value: %w", err)}
	}
	if len(doc.Content) == 0 {
		return &FieldError{Key: path, Env: d.env, Err: errors.New("empty value")}
	}
	if line, name, ok := aliasCycle(doc.Content[0]); ok {
		return &FieldError{Key: path, Env: d.env, Err: aliasCycleError(line, name)}
	}
	return d.decode(doc.Content[0], v, path)
}

func isScalarTarget(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Interface, reflect.Pointer:
		return false
	}
	return true
}
