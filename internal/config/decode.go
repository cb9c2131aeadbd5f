package config

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// origin records where a key's value last came from, so that errors found
// later by Validate can point at the file line or variable that set it.
type origin struct {
	line int
	env  string
}

// decoder walks a yaml.Node tree and a Go value side by side. Doing the walk
// ourselves, rather than calling Node.Decode on the whole document, is what
// lets every warning and error carry the full dotted key and line, lets
// unknown keys be warnings instead of silently dropped, and lets durations
// accept integers (yaml v3 refuses those).
type decoder struct {
	env      string // the variable being applied, or "" while decoding the file
	warnings []string
	keys     []KeyVerdict
	origins  map[string]origin
	steps    int         // values decoded, against maxDecodeSteps
	over     *FieldError // where maxDecodeSteps was passed; the one error to report then
}

// maxDecodeSteps bounds the values one configuration may decode to. Aliases
// and merge keys are followed, not copied, so ten lines of anchors that
// each merge the previous one ten times would otherwise expand to 10^9
// values and hang `serve` and `config check` (a YAML "billion laughs").
// Real configurations decode to hundreds.
const maxDecodeSteps = 100000

var errTooComplex = fmt.Errorf("the configuration expands to more than %d values through aliases and merge keys", maxDecodeSteps)

func newDecoder() *decoder {
	return &decoder{origins: make(map[string]origin)}
}

// firstError is err, or only the expansion error when the decode stopped
// for that: every value still open on the way up repeats it.
func (d *decoder) firstError(err error) error {
	if d.over != nil {
		return d.over
	}
	return err
}

func (d *decoder) fieldError(n *yaml.Node, path string, err error) *FieldError {
	fe := &FieldError{Key: path, Env: d.env, Err: err}
	if d.env == "" && n != nil {
		fe.Line = n.Line
	}
	return fe
}

func (d *decoder) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if d.env != "" {
		msg = "config: " + d.env + ": " + msg
	} else {
		msg = "config: " + msg
	}
	d.warnings = append(d.warnings, msg)
}

func (d *decoder) record(path string, n *yaml.Node) {
	o := origin{env: d.env}
	if d.env == "" && n != nil {
		o.line = n.Line
	}
	d.origins[path] = o
}

// decode stores n into v, which must be settable. A null value leaves
// scalars and structs as they were (so `level:` with nothing keeps the
// default, as yaml v3 does) and clears maps, slices and pointers.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	if d.steps++; d.steps > maxDecodeSteps {
		if d.over == nil {
			d.over = d.fieldError(n, path, errTooComplex)
		}
		return d.over
	}
	n = resolveAlias(n)
	if isNull(n) {
		switch v.Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface:
			v.Set(reflect.Zero(v.Type()))
		}
		return nil
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		return d.decodeWithYAML(n, v, path)
	}
	if v.Type() == durationType {
		return d.decodeDuration(n, v, path)
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Map:
		return d.decodeMap(n, v, path)
	case reflect.Slice:
		return d.decodeSlice(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	case reflect.String:
		return d.decodeString(n, v, path)
	case reflect.Interface:
		return d.decodeWithYAML(n, v, path)
	default:
		return d.decodeScalar(n, v, path)
	}
}

// aliasCycle finds an alias inside the value it names (`a: &x {b: *x}`),
// which YAML allows and every walk over the nodes would follow forever,
// and returns its line and anchor name.
func aliasCycle(n *yaml.Node) (int, string, bool) {
	return findAliasCycle(n, map[*yaml.Node]bool{}, map[*yaml.Node]bool{})
}

// findAliasCycle walks n depth first: open holds the nodes being walked,
// done those walked already, so an alias named many times (an "alias
// bomb") is walked once.
func findAliasCycle(n *yaml.Node, open, done map[*yaml.Node]bool) (int, string, bool) {
	if n == nil || done[n] {
		return 0, "", false
	}
	if n.Kind == yaml.AliasNode {
		if open[n.Alias] {
			return n.Line, n.Value, true
		}
		return findAliasCycle(n.Alias, open, done)
	}
	open[n] = true
	for _, c := range n.Content {
		if line, name, ok := findAliasCycle(c, open, done); ok {
			return line, name, true
		}
	}
	delete(open, n)
	done[n] = true
	return 0, "", false
}

// aliasCycleError is the error for a value that contains its own alias.
func aliasCycleError(line int, name string) error {
	return fmt.Errorf("alias *%s on line %d refers to a value that contains it", name, line)
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	default:
		return "a scalar"
	}
}

func (d *decoder) expect(n *yaml.Node, path string, kind yaml.Kind, what string) error {
	if n.Kind == kind {
		return nil
	}
	return d.fieldError(n, path, fmt.Errorf("expected %s, found %s", what, kindName(n)))
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	if err := d.expect(n, path, yaml.MappingNode, "a mapping"); err != nil {
		return err
	}
	d.record(path, n)
	fields := structFields(v.Type())
	var errs []error
	// Merged mappings go first so that keys written out explicitly win.
	for i := len(n.Content) - 2; i >= 0; i -= 2 {
		if isMergeKey(n.Content[i]) {
			errs = append(errs, d.decodeMerge(n.Content[i+1], v, path))
		}
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			errs = append(errs, d.fieldError(k, p, fmt.Errorf("duplicate key (first at line %d)", first)))
			continue
		}
		seen[k.Value] = k.Line
		f, ok := lookupField(fields, k.Value, false)
		if !ok {
			errs = append(errs, d.unknownKey(k, val, p, fields))
			continue
		}
		fv := v.FieldByIndex(f.index)
		d.knownKey(k, val, p, fv.Type())
		errs = append(errs, d.decode(val, fv, p))
	}
	return errors.Join(errs...)
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// decodeMerge applies a YAML merge key (`<<: *anchor` or a list of anchors;
// earlier ones in the list take precedence, so they are applied last).
func (d *decoder) decodeMerge(n *yaml.Node, v reflect.Value, path string) error {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode {
		return d.decode(n, v, path)
	}
	var errs []error
	for i := len(n.Content) - 1; i >= 0; i-- {
		errs = append(errs, d.decode(n.Content[i], v, path))
	}
	return errors.Join(errs...)
}

// unknownKey judges a key Config does not have: one of distribution's
// that wharf refuses (an error when its value asks for anything), one that
// wharf does not need (a warning saying why), or a typo (a warning, with a
// guess when only the case differs).
func (d *decoder) unknownKey(k, val *yaml.Node, path string, fields []field) error {
	if judged, err := d.judge(k, val, path, d.where(k)); judged {
		return err
	}
	if f, ok := lookupField(fields, k.Value, true); ok {
		d.warn("%s is an unknown key; ignored%s (did you mean %q?)", path, d.where(k), f.key)
		return nil
	}
	d.warn("%s is an unknown key; ignored%s", path, d.where(k))
	return nil
}

// where is " (line N)" for a key of the file, "" for a variable.
func (d *decoder) where(k *yaml.Node) string {
	if d.env != "" || k == nil {
		return ""
	}
	return fmt.Sprintf(" (line %d)", k.Line)
}

// judge applies the table of distribution's keys to a key wharf lacks,
// whose value is val: a refused key that asks for something is an error
// naming it; anything else the table knows is noted with a warning. It
// reports whether the table knew the key.
func (d *decoder) judge(k, val *yaml.Node, path, where string) (bool, error) {
	if key, c, ok := refusedUnder(val, path); ok {
		d.note(key, c)
		return true, d.fieldError(k, key, fmt.Errorf("refused: %s", c.why))
	}
	c, _, ok := classify(path)
	switch {
	case !ok:
		return false, nil
	case c.class == Refused && c.asksSame(resolveAlias(val)):
		d.note(path, keyClass{class: Harmless, why: "what wharf does anyway"})
		d.warn("%s asks for what wharf does anyway; ignored%s", path, where)
	case c.class == Refused || asksNothing(val):
		d.note(path, keyClass{class: Harmless, why: "set to nothing"})
		d.warn("%s is set to nothing; ignored%s", path, where)
	default:
		d.note(path, c)
		d.warn("%s is not needed by wharf; ignored%s: %s", path, where, c.why)
	}
	return true, nil
}

// knownKey notes a key of Config whose value is val. Sections are not
// listed, only the keys that carry values, unless the table calls the key
// harmless (one of distribution's that wharf accepts and does not use): that
// is warned about when it is set to something.
func (d *decoder) knownKey(k, val *yaml.Node, path string, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if c, key, ok := classify(path); ok && c.class == Harmless {
		if key == path && !asksNothing(val) {
			d.note(path, c)
			d.warn("%s is not needed by wharf; ignored%s: %s", path, d.where(k), c.why)
		}
		return
	}
	if t.Kind() != reflect.Struct {
		d.note(path, keyClass{class: Implemented})
	}
}

// note records a verdict for Config.Keys.
func (d *decoder) note(path string, c keyClass) {
	d.keys = append(d.keys, KeyVerdict{Key: path, Class: c.class, Why: c.why})
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) error {
	if v.Type().Key().Kind() != reflect.String {
		return d.decodeWithYAML(n, v, path)
	}
	if err := d.expect(n, path, yaml.MappingNode, "a mapping"); err != nil {
		return err
	}
	d.record(path, n)
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, d.fieldError(k, path, fmt.Errorf("map key must be a scalar, found %s", kindName(k))))
			continue
		}
		errs = append(errs, d.setMapEntry(v, k.Value, path, func(elem reflect.Value, p string) error {
			return d.decode(val, elem, p)
		}))
	}
	return errors.Join(errs...)
}

// setMapEntry decodes into a copy of m[key] (map elements are not
// addressable) and stores it back only if decoding succeeded.
func (d *decoder) setMapEntry(m reflect.Value, key, path string, fill func(reflect.Value, string) error) error {
	kv := reflect.ValueOf(key).Convert(m.Type().Key())
	elem := reflect.New(m.Type().Elem()).Elem()
	if old := m.MapIndex(kv); old.IsValid() {
		elem.Set(old)
	}
	if err := fill(elem, joinPath(path, key)); err != nil {
		return err
	}
	m.SetMapIndex(kv, elem)
	return nil
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) error {
	if v.Type().Elem().Kind() == reflect.Uint8 {
		return d.decodeWithYAML(n, v, path) // []byte is !!binary, not a list
	}
	if err := d.expect(n, path, yaml.SequenceNode, "a list"); err != nil {
		return err
	}
	d.record(path, n)
	if len(n.Content) == 0 {
		v.SetZero() // an empty list and an absent one mean the same
		return nil
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	var errs []error
	for i, item := range n.Content {
		errs = append(errs, d.decode(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i)))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	v.Set(out)
	return nil
}

// decodeString takes any scalar's text as written, so `version: 0.1` (a
// float to YAML) reads as the string "0.1".
func (d *decoder) decodeString(n *yaml.Node, v reflect.Value, path string) error {
	if err := d.expect(n, path, yaml.ScalarNode, "a string"); err != nil {
		return err
	}
	d.record(path, n)
	v.SetString(n.Value)
	return nil
}

// decodeDuration accepts Go duration syntax ("10s", "168h", "1h30m") and,
// like distribution (whose yaml.v2 decodes integers into time.Duration), a
// bare integer counting nanoseconds.
func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) error {
	if err := d.expect(n, path, yaml.ScalarNode, "a duration"); err != nil {
		return err
	}
	var dur time.Duration
	switch n.ShortTag() {
	case "!!int":
		var ns int64
		if err := n.Decode(&ns); err != nil {
			return d.fieldError(n, path, fmt.Errorf("cannot parse %q as a duration: integer out of range", n.Value))
		}
		dur = time.Duration(ns)
	case "!!str":
		parsed, err := time.ParseDuration(n.Value)
		if err != nil {
			return d.fieldError(n, path, fmt.Errorf("cannot parse %q as a duration (want e.g. \"10s\" or \"168h\"): %w", n.Value, err))
		}
		dur = parsed
	default:
		return d.fieldError(n, path, fmt.Errorf("cannot parse %q as a duration (want e.g. \"10s\" or \"168h\")", n.Value))
	}
	d.record(path, n)
	v.SetInt(int64(dur))
	return nil
}

// decodeScalar handles bools and numbers through yaml v3's own rules
// (true/false, and yes/no/on/off for YAML 1.1 files), decoding into a fresh
// value so that a failure leaves the default untouched.
func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) error {
	if err := d.expect(n, path, yaml.ScalarNode, describeType(v.Type())); err != nil {
		return err
	}
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		// yaml's TypeError repeats the line and names Go types; say it plainly.
		return d.fieldError(n, path, fmt.Errorf("cannot parse %q as %s", n.Value, describeType(v.Type())))
	}
	d.record(path, n)
	v.Set(tmp.Elem())
	return nil
}

// decodeWithYAML hands a value to yaml v3 itself: types with their own
// UnmarshalYAML, interfaces, and maps with non-string keys. Unknown keys
// inside such values are not reported.
func (d *decoder) decodeWithYAML(n *yaml.Node, v reflect.Value, path string) error {
	tmp := reflect.New(v.Type())
	tmp.Elem().Set(v)
	if err := n.Decode(tmp.Interface()); err != nil {
		return d.fieldError(n, path, err)
	}
	d.record(path, n)
	v.Set(tmp.Elem())
	return nil
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return "a value of type " + t.String()
	}
}
