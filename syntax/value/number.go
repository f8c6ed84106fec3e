package value

import "math/big"

// MaxNumberBits bounds the magnitude of numbers in arithmetic, both ways:
// 2^-4096 < |x| < 2^4096 (about 1e±1233), zero and infinities aside. cty
// numbers are arbitrary-precision floats, and without a bound a
// configuration could make `1e999999999 % 3` build a gigabyte integer.
// The parser, the evaluator and the standard library all apply it.
const MaxNumberBits = 4096

// BigFloatInRange reports whether f is zero, infinite, or within
// MaxNumberBits, so converting it to an integer or text stays cheap.
func BigFloatInRange(f *big.Float) bool {
	if f.Sign() == 0 || f.IsInf() {
		return true
	}
	exp := f.MantExp(nil)
	return -MaxNumberBits <= exp && exp <= MaxNumberBits
}
