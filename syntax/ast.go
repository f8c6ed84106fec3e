package syntax

import (
	"github.com/hashicorp/hcl/v2"
)

// File is a parsed River file.
type File struct {
	Name  string
	Bytes []byte // the source, for diagnostics with source lines
	Body  *Body
	// Comments holds every comment in source order, for the formatter.
	Comments []Comment
}

// Body is a sequence of attributes and blocks, in source order.
type Body struct {
	Stmts []Stmt
	// Range covers the body between (not including) its braces, or the whole
	// file for a file body.
	Range hcl.Range
}

// Stmt is an *Attribute or a *Block.
type Stmt interface {
	stmt()
	StmtRange() hcl.Range
}

// Attribute is `name = expr`.
type Attribute struct {
	Name      string
	NameRange hcl.Range
	Expr      hcl.Expression
	Range     hcl.Range // whole statement
}

// Block is `a.b.c "label" { body }`.
type Block struct {
	// Name is the dotted name as written, such as "discovery.aws.ec2".
	Name      string
	NameRange hcl.Range
	// Label is the block's label, empty if it has none; HasLabel tells `""` apart.
	Label      string
	HasLabel   bool
	LabelRange hcl.Range
	Body       *Body
	// OpenBraceRange and CloseBraceRange are the braces.
	OpenBraceRange  hcl.Range
	CloseBraceRange hcl.Range
	Range           hcl.Range // whole block
}

// Comment is a `//`, `#` or `/* */` comment; Text includes its markers.
type Comment struct {
	Text  string
	Range hcl.Range
}

func (*Attribute) stmt()                  {}
func (*Block) stmt()                      {}
func (a *Attribute) StmtRange() hcl.Range { return a.Range }
func (b *Block) StmtRange() hcl.Range     { return b.Range }

// ID returns the block's component ID: its name, plus "." and the label if it has one.
func (b *Block) ID() string {
	if b.HasLabel {
		return b.Name + "." + b.Label
	}
	return b.Name
}

// Attributes returns the body's attributes in source order.
func (b *Body) Attributes() []*Attribute {
	var out []*Attribute
	for _, s := range b.Stmts {
		if a, ok := s.(*Attribute); ok {
			out = append(out, a)
		}
	}
	return out
}

// Blocks returns the body's blocks in source order.
func (b *Body) Blocks() []*Block {
	var out []*Block
	for _, s := range b.Stmts {
		if bl, ok := s.(*Block); ok {
			out = append(out, bl)
		}
	}
	return out
}
