package converter_test

import (
	"path/filepath"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/flow-telemetry/flow/internal/converter"
)

// BenchmarkConvert converts each format's golden inputs once per
// iteration: parsing (Prometheus' own parser for prometheus.yml), mapping
// and formatting the River output.
func BenchmarkConvert(b *testing.B) {
	for _, format := range converter.Formats {
		paths, _ := filepath.Glob(filepath.Join("testdata", format, "*.txtar"))
		var inputs [][]byte
		bytes := 0
		for _, p := range paths {
			ar, err := txtar.ParseFile(p)
			if err != nil {
				b.Fatal(err)
			}
			for _, f := range ar.Files {
				if f.Name == "in.yaml" {
					inputs = append(inputs, f.Data)
					bytes += len(f.Data)
				}
			}
		}
		b.Run(format, func(b *testing.B) {
			b.SetBytes(int64(bytes))
			b.ReportAllocs()
			for range b.N {
				for _, in := range inputs {
					_, _ = converter.Convert(format, "in.yaml", in)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(inputs)), "µs/file")
		})
	}
}
