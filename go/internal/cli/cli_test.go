package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	tests := []struct {
		name  string
		table Table
		want  string
	}{
		{
			name: "aligned",
			table: Table{Header: []string{"ID", "NAME", "NODES"}, Rows: [][]Cell{
				{{Text: "3f2a9c1b7d4e"}, {Text: "web"}, {Text: "app@3f2a9c1b7d4e"}},
				{{Text: "1"}, {Text: "a-much-longer-name"}, {Text: ""}},
			}},
			want: "" +
				"ID            NAME                NODES\n" +
				"3f2a9c1b7d4e  web                 app@3f2a9c1b7d4e\n" +
				"1             a-much-longer-name\n",
		},
		{
			name: "multi-line cells",
			table: Table{Header: []string{"A", "B", "C"}, Rows: [][]Cell{
				{{Text: "x"}, {Text: "1\n22"}, {Text: "p\nq\nr"}},
			}},
			want: "" +
				"A  B   C\n" +
				"x  1   p\n" +
				"   22  q\n" +
				"       r\n",
		},
		{
			name: "colour does not count",
			table: Table{Color: true, Rows: [][]Cell{
				{{Text: "ok", Color: Green}, {Text: "fine"}},
				{{Text: "FAIL", Color: Red}, {Text: "bad"}},
			}},
			want: "" +
				"\x1b[32mok\x1b[0m    fine\n" +
				"\x1b[31mFAIL\x1b[0m  bad\n",
		},
		{
			name:  "no colour off a terminal",
			table: Table{Rows: [][]Cell{{{Text: "ok", Color: Green}, {Text: "fine"}}}},
			want:  "ok  fine\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if _, err := tt.table.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", strings.ReplaceAll(got, "\x1b", "ESC"), strings.ReplaceAll(tt.want, "\x1b", "ESC"))
			}
		})
	}
}

func TestColorFor(t *testing.T) {
	var b bytes.Buffer
	if ColorFor(&b) {
		t.Error("a buffer got colour")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ColorFor(f) {
		t.Error("/dev/null got colour: it is a character device, not a terminal")
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, map[string]any{"a": "<b>", "n": 1}); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": \"<b>\",\n  \"n\": 1\n}\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"app@web", "app@web"},
		{"naïve name", "naïve name"},
		{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\a`},
		{"a\nb\tc\r", `a\nb\tc\r`},
		{"\x9b31m", `\x9b31m`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"\u202egnp.exe", `\u202egnp.exe`},
	} {
		if got := Safe(tc.in); got != tc.want {
			t.Errorf("Safe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var b strings.Builder
	tab := &Table{Header: []string{"NODE"}}
	tab.Add("evil\x1b[31m\nok")
	if _, err := tab.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsRune(b.String(), 0x1b) {
		t.Errorf("table let an escape through: %q", b.String())
	}
}
