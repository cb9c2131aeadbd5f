package bench

import (
	"fmt"
	"math"
	"strings"
)

// Table is a grid of text cells with a header row, printable as aligned
// plain text or as GitHub Markdown.
type Table struct {
	Header []string
	Rows   [][]string
}

// AddRow appends a row; missing cells print empty, extra cells are kept.
func (t *Table) AddRow(cells ...string) { t.Rows = append(t.Rows, cells) }

// widths returns the widest cell of every column.
func (t *Table) widths() []int {
	n := len(t.Header)
	for _, r := range t.Rows {
		n = max(n, len(r))
	}
	w := make([]int, n)
	for _, r := range append([][]string{t.Header}, t.Rows...) {
		for i, c := range r {
			w[i] = max(w[i], len(c))
		}
	}
	return w
}

// Text renders the table with columns padded to equal width, two spaces
// apart, the first column left-aligned and the others right-aligned.
func (t *Table) Text() string {
	w := t.widths()
	var b strings.Builder
	line := func(r []string) {
		var l strings.Builder
		for i := range w {
			c := cell(r, i)
			if i > 0 {
				l.WriteString("  ")
				l.WriteString(strings.Repeat(" ", w[i]-len(c)))
				l.WriteString(c)
			} else {
				l.WriteString(c)
				l.WriteString(strings.Repeat(" ", w[i]-len(c)))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteString("\n")
	}
	line(t.Header)
	sep := make([]string, len(w))
	for i := range w {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, r := range t.Rows {
		line(r)
	}
	return b.String()
}

// Markdown renders the table as a GitHub-flavoured Markdown table, the
// first column left-aligned and the others right-aligned.
func (t *Table) Markdown() string {
	w := t.widths()
	var b strings.Builder
	line := func(r []string) {
		b.WriteString("|")
		for i := range w {
			b.WriteString(" ")
			b.WriteString(strings.ReplaceAll(cell(r, i), "|", `\|`))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(t.Header)
	b.WriteString("|")
	for i := range w {
		if i == 0 {
			b.WriteString(" --- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		line(r)
	}
	return b.String()
}

func cell(r []string, i int) string {
	if i < len(r) {
		return r[i]
	}
	return ""
}

// FormatFigure prints a figure with a precision suited to its size: three
// significant digits for small values, none after the point from 100 up.
// NaN (a figure that was not measured) prints as "-".
func FormatFigure(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// FormatRatio prints a/b as "1.23x", or "-" when either is missing or b is 0.
func FormatRatio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return FormatFigure(a/b) + "x"
}

// FormatPair prints two figures as "a / b", the second omitted when NaN,
// "-" when both are.
func FormatPair(a, b float64) string {
	if math.IsNaN(a) && math.IsNaN(b) {
		return "-"
	}
	if math.IsNaN(b) {
		return FormatFigure(a)
	}
	return FormatFigure(a) + " / " + FormatFigure(b)
}

// FormatList prints figures as "a / b / c": a missing one as "-", missing
// ones at the end left out, "-" when all are missing. Two figures print as
// FormatPair prints them.
func FormatList(vals ...float64) string {
	end := len(vals)
	for end > 0 && math.IsNaN(vals[end-1]) {
		end--
	}
	if end == 0 {
		return "-"
	}
	parts := make([]string, end)
	for i, v := range vals[:end] {
		parts[i] = FormatFigure(v)
	}
	return strings.Join(parts, " / ")
}
