package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path (none when path is ""), lays it
// over Default(), applies the REGISTRY_* variables found in environ (pass
// os.Environ(); Load never reads the process environment itself), and
// validates the result.
//
// Warnings are for things that do not stop wharf: keys of distribution's
// configuration that wharf does not implement yet, unknown keys and unknown
// REGISTRY_* variables. Each starts with "config: " and names the key or
// variable. The error, if any, is made of *FieldError values (joined with
// errors.Join when there are several); the configuration is nil then.
func Load(path string, environ []string) (*Config, []string, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: read file: %w", err)
		}
	}
	return Parse(data, environ)
}

// Parse is Load for configuration text already in memory; empty data means
// defaults only.
//
// File semantics, as in distribution where wharf and it overlap:
//   - keys are matched exactly (lower case) against Config's yaml tags;
//   - a key with an empty (null) value keeps its default;
//   - durations are Go duration strings ("10s", "168h") or bare integers
//     counting nanoseconds;
//   - anchors, aliases and merge keys (<<) work.
//
// Environment semantics: REGISTRY_ followed by the key's path in upper case
// joined by underscores, e.g. REGISTRY_STORAGE_DELETE_ENABLED=true. The
// remainder after a map's key names the map entry, lower-cased
// (REGISTRY_LOG_FIELDS_SERVICE=x sets log.fields.service). A variable naming
// a whole section takes a YAML value (REGISTRY_LOG='{level: debug}').
// Variables are applied after the file, in name order so that a section
// comes before its keys; when environ names a variable twice, the first
// wins, as with os.Getenv.
func Parse(data []byte, environ []string) (*Config, []string, error) {
	cfg := Default()
	d := newDecoder()
	if err := d.decodeFile(data, reflect.ValueOf(cfg).Elem()); err != nil {
		return nil, d.warnings, d.firstError(err)
	}
	if err := d.applyEnv(reflect.ValueOf(cfg).Elem(), environ); err != nil {
		return nil, d.warnings, d.firstError(err)
	}
	if cfg.Version == "" {
		cfg.Version = SupportedVersion
	}
	cfg.keys = d.keys
	if err := cfg.Validate(); err != nil {
		d.locate(err)
		return nil, d.warnings, err
	}
	return cfg, d.warnings, nil
}

func (d *decoder) decodeFile(data []byte, v reflect.Value) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file means defaults only
		}
		return syntaxError(data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return syntaxError(data, err)
	default:
		return &FieldError{Line: extra.Line, Err: errors.New("more than one YAML document; wharf reads one")}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	if line, name, ok := aliasCycle(doc.Content[0]); ok {
		return &FieldError{Line: line, Err: aliasCycleError(line, name)}
	}
	return d.decode(doc.Content[0], v, "")
}

// syntaxError turns yaml's "yaml: line N: message" into a FieldError that
// also names the key being written near that line, since the parser gives
// only a line number.
func syntaxError(data []byte, err error) error {
	rest, ok := strings.CutPrefix(err.Error(), "yaml: line ")
	if !ok {
		return &FieldError{Err: fmt.Errorf("invalid YAML: %w", err)}
	}
	num, msg, ok := strings.Cut(rest, ":")
	line, convErr := strconv.Atoi(num)
	if !ok || convErr != nil {
		return &FieldError{Err: fmt.Errorf("invalid YAML: %w", err)}
	}
	return &FieldError{
		Key:  keyNearLine(data, line),
		Line: line,
		Err:  fmt.Errorf("invalid YAML: %s", strings.TrimSpace(msg)),
	}
}

// keyNearLine guesses the dotted key that owns the given 1-based line from
// the indentation of the "key:" lines up to it. It is a best effort for
// block-style YAML, used only to make syntax errors easier to find.
func keyNearLine(data []byte, line int) string {
	type entry struct {
		indent int
		key    string
	}
	var stack []entry
	for i, text := range strings.Split(string(data), "\n") {
		if i >= line {
			break
		}
		trimmed := strings.TrimLeft(text, " \t")
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == '-' {
			continue
		}
		key, _, ok := strings.Cut(trimmed, ":")
		if !ok || key == "" {
			continue
		}
		indent := len(text) - len(trimmed)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, entry{indent, strings.Trim(strings.TrimSpace(key), `"'`)})
	}
	keys := make([]string, len(stack))
	for i, e := range stack {
		keys[i] = e.key
	}
	return strings.Join(keys, ".")
}

// locate fills in where a key Validate complains about was set: the file
// line or the REGISTRY_* variable. Validate itself only sees the values.
func (d *decoder) locate(err error) {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			d.locate(e)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line != 0 || fe.Env != "" {
		return
	}
	if o, ok := d.origins[fe.Key]; ok {
		fe.Line, fe.Env = o.line, o.env
	}
}
