package loki

import (
	"strings"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promrelabel "github.com/prometheus/prometheus/model/relabel"

	"github.com/flow-telemetry/flow/components/common/relabel"
)

// TenantLabel carries an entry's tenant (X-Scope-OrgID) from a source to
// loki.write, as in Promtail and Alloy. It survives DropInternal.
const TenantLabel = "__tenant_id__"

// Relabel applies rules to ls and returns the result, or nil if a rule
// dropped the entry. ls is not modified. With no rules it returns ls itself.
func Relabel(rules relabel.Rules, ls model.LabelSet) model.LabelSet {
	if len(rules) == 0 {
		return ls
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for n, v := range ls {
		lb.Set(string(n), string(v))
	}
	if !promrelabel.ProcessBuilder(lb, []*promrelabel.Config(rules)...) {
		return nil
	}
	out := make(model.LabelSet, len(ls))
	lb.Range(func(l labels.Label) {
		out[model.LabelName(l.Name)] = model.LabelValue(l.Value)
	})
	return out
}

// RelabelFinal is Relabel followed by DropInternal, as sources label their
// entries, building one map rather than two: nil when a rule dropped the
// entry, otherwise the labels Loki will see (possibly none).
func RelabelFinal(rules relabel.Rules, ls model.LabelSet) model.LabelSet {
	if len(rules) == 0 {
		return DropInternal(ls)
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for n, v := range ls {
		lb.Set(string(n), string(v))
	}
	if !promrelabel.ProcessBuilder(lb, []*promrelabel.Config(rules)...) {
		return nil
	}
	n := 0
	lb.Range(func(l labels.Label) {
		if keepLabel(model.LabelName(l.Name), model.LabelValue(l.Value)) {
			n++
		}
	})
	out := make(model.LabelSet, n)
	lb.Range(func(l labels.Label) {
		if keepLabel(model.LabelName(l.Name), model.LabelValue(l.Value)) {
			out[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		}
	})
	return out
}

// DropInternal returns ls without its "__"-prefixed labels (except
// TenantLabel) and without labels whose names Loki would reject, which is
// what sources do after relabeling. It returns ls itself when nothing needs
// removing, so the common case does not allocate.
func DropInternal(ls model.LabelSet) model.LabelSet {
	clean := true
	for n, v := range ls {
		if !keepLabel(n, v) {
			clean = false
			break
		}
	}
	if clean {
		return ls
	}
	out := make(model.LabelSet, len(ls))
	for n, v := range ls {
		if keepLabel(n, v) {
			out[n] = v
		}
	}
	return out
}

func keepLabel(n model.LabelName, v model.LabelValue) bool {
	if n == TenantLabel {
		return true
	}
	if strings.HasPrefix(string(n), "__") || v == "" {
		return false
	}
	return model.LegacyValidation.IsValidLabelName(string(n))
}

// SanitizeLabelName turns s into a valid Loki label name by replacing every
// character outside [a-zA-Z0-9_] with '_' (and prefixing '_' if it starts
// with a digit). It returns "" for an empty s.
func SanitizeLabelName(s string) string {
	if s == "" {
		return ""
	}
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			if i == 0 && c >= '0' && c <= '9' {
				continue
			}
			b[i] = '_'
		}
	}
	if b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// SameLabelSet tells whether a and b are the same map (not merely equal
// ones): a pointer comparison, which lets a receiver skip comparing the
// labels of consecutive entries a source gave one shared map.
func SameLabelSet(a, b model.LabelSet) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b))
}
