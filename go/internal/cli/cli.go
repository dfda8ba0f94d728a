// Package cli shapes answers for people and for programs: aligned tables,
// colour only on a terminal, and indented JSON.
package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"
)

// IsTerminal reports whether f is a terminal. A character device is not
// enough: /dev/null is one too.
func IsTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// ColorFor reports whether text written to w may carry colour: w is a
// terminal, NO_COLOR (no-color.org) is unset or empty, and TERM is not
// "dumb".
func ColorFor(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !IsTerminal(f) {
		return false
	}
	return os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

// Color is how a cell is painted on a terminal.
type Color int

// The colours in use; Plain is none.
const (
	Plain Color = iota
	Green
	Red
	Yellow
	Dim
	Bold
)

// sgr is the Select Graphic Rendition sequence of each colour.
var sgr = [...]string{Plain: "", Green: "\x1b[32m", Red: "\x1b[31m", Yellow: "\x1b[33m", Dim: "\x1b[2m", Bold: "\x1b[1m"}

// Paint wraps s in the colour's escape sequences when on is true.
func Paint(on bool, c Color, s string) string {
	if !on || c == Plain || s == "" || int(c) >= len(sgr) {
		return s
	}
	return sgr[c] + s + "\x1b[0m"
}

// Cell is one table cell. Text may hold several lines: the row then grows
// to the tallest cell.
type Cell struct {
	Text  string
	Color Color
}

// Table is a table with a header row, written with its columns aligned.
// Colour never counts toward a column's width.
type Table struct {
	Header []string
	Rows   [][]Cell
	Color  bool // paint cells (and bold the header); see ColorFor
}

// Add appends a row of plain cells.
func (t *Table) Add(cells ...string) {
	row := make([]Cell, len(cells))
	for i, c := range cells {
		row[i] = Cell{Text: c}
	}
	t.Rows = append(t.Rows, row)
}

// AddCells appends a row.
func (t *Table) AddCells(cells ...Cell) {
	t.Rows = append(t.Rows, cells)
}

// gap separates columns.
const gap = "  "

// WriteTo writes the table: columns padded to their widest cell, separated
// by two spaces, no trailing blanks.
func (t *Table) WriteTo(w io.Writer) (int64, error) {
	ncol := len(t.Header)
	for _, r := range t.Rows {
		ncol = max(ncol, len(r))
	}
	width := make([]int, ncol)
	grid := make([][][]string, 0, len(t.Rows)+1) // row, column, line
	colors := make([][]Color, 0, len(t.Rows)+1)
	add := func(cells []Cell, header bool) {
		row := make([][]string, ncol)
		cols := make([]Color, ncol)
		for i := range ncol {
			if i < len(cells) {
				row[i] = strings.Split(cells[i].Text, "\n")
				for j, line := range row[i] {
					row[i][j] = Safe(line)
				}
				cols[i] = cells[i].Color
				if header {
					cols[i] = Bold
				}
			}
			for _, line := range row[i] {
				width[i] = max(width[i], utf8.RuneCountInString(line))
			}
		}
		grid = append(grid, row)
		colors = append(colors, cols)
	}
	if len(t.Header) > 0 {
		hdr := make([]Cell, len(t.Header))
		for i, h := range t.Header {
			hdr[i] = Cell{Text: h}
		}
		add(hdr, true)
	}
	for _, r := range t.Rows {
		add(r, false)
	}

	var b strings.Builder
	for r, row := range grid {
		height := 1
		for _, lines := range row {
			height = max(height, len(lines))
		}
		for l := range height {
			var line strings.Builder
			pending := 0 // padding owed before the next non-empty cell
			for i, lines := range row {
				text := ""
				if l < len(lines) {
					text = lines[l]
				}
				if text != "" {
					line.WriteString(strings.Repeat(" ", pending))
					line.WriteString(Paint(t.Color, colors[r][i], text))
					pending = 0
				}
				pending += width[i] - utf8.RuneCountInString(text)
				if i < ncol-1 {
					pending += len(gap)
				}
			}
			b.WriteString(line.String())
			b.WriteByte('\n')
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Safe returns s fit for a terminal: every control character (escape
// sequences begin with one), other non-printing rune, and byte that is not
// UTF-8 written as a Go escape (\x1b, \u200e). Text from containers goes
// through it before it is shown: a process in a container can register any
// name with its epmd, escape sequences included.
func Safe(s string) string {
	if strings.IndexFunc(s, unsafeRune) < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case unsafeRune(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unsafeRune reports whether r may not reach a terminal as it is.
func unsafeRune(r rune) bool {
	return r != ' ' && !unicode.IsGraphic(r) || unicode.Is(unicode.Bidi_Control, r)
}

// JSON writes v as indented JSON and a newline.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
