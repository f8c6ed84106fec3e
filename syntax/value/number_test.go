package value

import (
	"math"
	"math/big"
	"testing"
)

func TestBigFloatInRange(t *testing.T) {
	pow2 := func(exp int) *big.Float { return new(big.Float).SetMantExp(big.NewFloat(0.5), exp) } // 2^(exp-1)
	for _, c := range []struct {
		f    *big.Float
		want bool
	}{
		{big.NewFloat(0), true},
		{big.NewFloat(math.Inf(1)), true},
		{big.NewFloat(-1e300), true},
		{pow2(MaxNumberBits), true},
		{pow2(MaxNumberBits + 1), false},
		{new(big.Float).Neg(pow2(MaxNumberBits + 1)), false},
		{pow2(-MaxNumberBits), true},
		{pow2(-MaxNumberBits - 1), false},
	} {
		if got := BigFloatInRange(c.f); got != c.want {
			t.Errorf("BigFloatInRange(%v) = %v, want %v", c.f, got, c.want)
		}
	}
}
