package config

import "fmt"

// FieldError reports a problem with one configuration key. Load, Parse and
// Validate return it (several are combined with errors.Join), so callers can
// use errors.As to find the key.
type FieldError struct {
	// Key is the dotted YAML path, e.g. "http.addr"; empty when the problem
	// is not tied to a key (e.g. a syntax error before the first key).
	Key string
	// Line is the 1-based line in the file, or 0 when unknown.
	Line int
	// Env is the environment variable that set the key, if one did.
	Env string
	// Err is the underlying problem.
	Err error
}

// Error formats the error as "config: KEY (line N): problem", or
// "config: VARIABLE (KEY): problem" for an environment override.
func (e *FieldError) Error() string {
	switch {
	case e.Env != "" && e.Key != "":
		return fmt.Sprintf("config: %s (%s): %v", e.Env, e.Key, e.Err)
	case e.Env != "":
		return fmt.Sprintf("config: %s: %v", e.Env, e.Err)
	case e.Key != "" && e.Line > 0:
		return fmt.Sprintf("config: %s (line %d): %v", e.Key, e.Line, e.Err)
	case e.Key != "":
		return fmt.Sprintf("config: %s: %v", e.Key, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("config: line %d: %v", e.Line, e.Err)
	default:
		return fmt.Sprintf("config: %v", e.Err)
	}
}

// Unwrap returns the underlying problem.
func (e *FieldError) Unwrap() error { return e.Err }
