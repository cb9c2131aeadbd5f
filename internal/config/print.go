package config

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Mask replaces secret values in MaskedYAML's output.
const Mask = "*****"

// MaskedYAML returns the configuration as YAML (2-space indent, durations
// in Go syntax such as "168h0m0s") with secrets replaced by Mask.
//
// Which values are secret is decided by name, not by struct tag, so that
// it also covers map entries (e.g. a log field called "password"): any
// mapping entry whose key is secret, password, secretkey, accesskey, dsn,
// accountkey or private_key
// (any case) and whose value is a non-empty scalar. An empty secret stays
// empty, so the output still shows that none is set. A new secret field
// must use one of these key names or be added to isSecretKey.
func (c *Config) MaskedYAML() ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	maskSecrets(&root)
	maskEndpointHeaders(&root)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	return buf.Bytes(), nil
}

func maskSecrets(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isSecretKey(k.Value) && v.Kind == yaml.ScalarNode && v.Value != "" {
				v.SetString(Mask)
			}
			if strings.EqualFold(k.Value, "secrets") && v.Kind == yaml.SequenceNode {
				maskScalars(v)
			}
		}
	}
	for _, child := range n.Content {
		maskSecrets(child)
	}
}

func isSecretKey(key string) bool {
	switch strings.ToLower(key) {
	case "secret", "password", "secretkey", "accesskey", "dsn", "accountkey", "private_key":
		return true
	}
	return false
}

// maskEndpointHeaders masks the values of notifications.endpoints[].headers:
// they carry the receivers' credentials (Authorization). http.headers,
// the registry's own response headers, stay visible.
func maskEndpointHeaders(root *yaml.Node) {
	endpoints := mappingValue(mappingValue(documentRoot(root), "notifications"), "endpoints")
	if endpoints == nil {
		return
	}
	for _, ep := range endpoints.Content {
		if h := mappingValue(ep, "headers"); h != nil {
			for i := 1; i < len(h.Content); i += 2 {
				maskScalars(h.Content[i])
			}
		}
	}
}

func documentRoot(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

// mappingValue is the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// maskScalars replaces every non-empty scalar at or under n.
func maskScalars(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Value != "" {
		n.SetString(Mask)
	}
	for _, c := range n.Content {
		maskScalars(c)
	}
}
