package runtime

import (
	"fmt"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/decode"
	"github.com/flow-telemetry/flow/syntax/stdlib"
)

// This file is the runtime's whole use of the language packages, so the rest
// of the runtime reads as graph and scheduling code.

func parseFile(src []byte, filename string) (*syntax.File, hcl.Diagnostics) {
	return syntax.ParseFile(src, filename)
}

// masked is an attribute expression not shown as written (a secret, or a URL
// with credentials) and the text shown in its place.
type masked = decode.Masked

// decodeBody decodes block into target (a pointer to an Arguments struct),
// appending the attributes holding secrets to secrets.
func decodeBody(block *syntax.Block, ctx *hcl.EvalContext, target any, secrets *[]masked) hcl.Diagnostics {
	return decode.Block(block, ctx, target, decode.SecretRanges(secrets))
}

// encodeValue encodes arguments, exports or debug info as cty values.
func encodeValue(v any) (out cty.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoding %T: %v", v, p)
		}
	}()
	return decode.Encode(v), nil
}

// stdlibContext is the parent of every component's context. One shared
// context suffices: evaluation only reads it.
var stdlibContext = sync.OnceValue(stdlib.EvalContext)
