package syntax

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// MaxConfigBytes bounds the size of a config: one file, and all the files
// of one config together (the runtime checks the total). It is the limit on
// a config posted to /-/reload too: the largest real configs, generated
// ones with thousands of components, are around 1 MB.
const MaxConfigBytes = 4 << 20

// The syntax tree of a config is its largest cost in memory before any
// value is built: every operator, literal, bracket and name becomes a node of
// 100 to 200 bytes, so a config made of nothing but one-byte operators
// (`[!!!…!x, !!!…!x, …]`) or two-byte items (`[1,1,1,…]`) would take 100 to
// 175 times its size. A TreeBudget bounds that: parsing charges each token
// an estimate of the nodes it becomes (treeWeight), and refuses the config
// once the charges exceed TreeBytesPerByte times its size plus
// TreeBytesBase. Real configs cost 7 to 14 times their size (the examples,
// and a generated 2 MB config of 7,000 components); a config that is all
// histogram bucket lists would cost 39, and one that is all `[1,1,1,…]` 100.
const (
	TreeBytesPerByte = 24
	TreeBytesBase    = 4 << 20
)

// A TreeBudget is the memory, in bytes, that the syntax trees of one config
// may still take. One budget is shared by all the files of a config.
type TreeBudget struct {
	limit, left int64
	afterDot    bool // the previous token was "."
}

// NewTreeBudget returns the budget of a config of size bytes.
func NewTreeBudget(size int) *TreeBudget {
	n := int64(TreeBytesPerByte)*int64(size) + TreeBytesBase
	return &TreeBudget{limit: n, left: n}
}

// treeWeight estimates the bytes of syntax tree a token becomes: a literal
// (a LiteralExpr, and a big.Float for a number), a name (a reference, an
// attribute, a block or an object key), an operator (a BinaryExpr or
// UnaryExpr), a "." and the name after it (a step of a reference, or an
// AccessExpr), a bracket (an array, an index, a call, parentheses, an object
// or a block body); closers and separators become nothing of their own.
func treeWeight(t TokenType) int64 {
	switch t {
	case NUMBER, FLOAT, IDENT, LCURLY:
		return 200
	case STRING, RAWSTRING, LBRACK, LPAREN:
		return 160
	case DOT:
		return 112
	case COMMENT:
		return 80
	case NEWLINE:
		return 16
	case COMMA, RBRACK, RPAREN, RCURLY, ASSIGN, EOF, ILLEGAL:
		return 0
	}
	return 176 // an operator
}

// charge spends the weight of t, reporting false once the budget is spent.
func (b *TreeBudget) charge(t TokenType) bool {
	if !(t == IDENT && b.afterDot) { // the "." paid for its name
		b.left -= treeWeight(t)
	}
	b.afterDot = t == DOT
	return b.left >= 0
}

func (b *TreeBudget) errorAt(rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary: fmt.Sprintf("the config is too dense to hold in memory: its syntax tree would take more than %d MiB (%d bytes per byte of config, plus %d MiB)",
			b.limit>>20, TreeBytesPerByte, TreeBytesBase>>20),
		Detail: "every operator, literal, name and bracket costs 100 to 200 bytes of memory, so a config of little else " +
			"(an operator or a number every byte or two) is refused; real configs take half of this or less",
		Subject: &rng,
	}
}

// tooLarge reports a config over MaxConfigBytes, at its first byte.
func tooLarge(filename string, size int, what string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("%s is %.1f MiB; the limit is %d MiB", what, float64(size)/(1<<20), MaxConfigBytes>>20),
		Detail:   "the largest real configs are around 1 MB; split a generated config's data out (a file read with local.file)",
		Subject:  &hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos},
	}
}

// ConfigTooLarge returns a diagnostic when files together exceed
// MaxConfigBytes, at the first byte of the first file (in name order).
func ConfigTooLarge(files map[string][]byte) *hcl.Diagnostic {
	total, first := 0, ""
	for name, src := range files {
		total += len(src)
		if first == "" || name < first {
			first = name
		}
	}
	if total <= MaxConfigBytes {
		return nil
	}
	what := "the config"
	if len(files) > 1 {
		what = fmt.Sprintf("the config (%d files)", len(files))
	}
	return tooLarge(first, total, what)
}

// Spent returns the bytes of syntax tree charged so far.
func (b *TreeBudget) Spent() int64 { return b.limit - b.left }
