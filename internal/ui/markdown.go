package ui

import (
	"bytes"
	"fmt"
	"html/template"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// markdown renders a repository's overview: GitHub-flavoured Markdown
// (tables, strikethrough, autolinks) whose raw HTML goldmark leaves out,
// then through bluemonday's policy for user content, so neither raw HTML
// nor a javascript: link survives, whatever the Markdown renderer lets by.
type markdown struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

func newMarkdown() *markdown {
	p := bluemonday.UGCPolicy()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(false)
	return &markdown{md: goldmark.New(goldmark.WithExtensions(extension.GFM)), policy: p}
}

// render returns the sanitized HTML of src.
func (m *markdown) render(src string) (template.HTML, error) {
	if src == "" {
		return "", nil
	}
	var buf bytes.Buffer
	if err := m.md.Convert([]byte(src), &buf); err != nil {
		return "", fmt.Errorf("render overview: %w", err)
	}
	// The sanitizer's output is the only HTML the templates take unescaped.
	return template.HTML(m.policy.SanitizeBytes(buf.Bytes())), nil //nolint:gosec // sanitized just now
}
