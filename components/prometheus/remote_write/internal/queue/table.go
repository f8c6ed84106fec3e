package queue

// seriesTable holds the queue's series by WAL ref. The WAL writer hands
// out refs from a counter, so the series of a WAL are nearly dense: the
// table is pages of 256 pointers indexed by ref, found by page number in
// a map, 8 bytes per series where a map of refs took 20 to 40. A page is
// freed with its last series, so series churn (new refs, old ones
// collected) does not grow the table.
type seriesTable struct {
	pages map[uint64]*seriesPage
	n     int
}

const pageRefBits = 8

type seriesPage struct {
	s [1 << pageRefBits]*series
}

func newSeriesTable() seriesTable { return seriesTable{pages: map[uint64]*seriesPage{}} }

// get returns the series of ref, or nil.
func (t *seriesTable) get(ref uint64) *series {
	if p := t.pages[ref>>pageRefBits]; p != nil {
		return p.s[ref&(1<<pageRefBits-1)]
	}
	return nil
}

// pageCache remembers the last page looked up, for a run of lookups
// under one lock: a WAL record's series are mostly consecutive refs.
type pageCache struct {
	num uint64
	p   *seriesPage
}

func (c *pageCache) get(t *seriesTable, ref uint64) *series {
	if num := ref >> pageRefBits; c.p == nil || c.num != num {
		c.num, c.p = num, t.pages[num]
		if c.p == nil {
			return nil
		}
	}
	return c.p.s[ref&(1<<pageRefBits-1)]
}

func (t *seriesTable) set(ref uint64, s *series) {
	num, i := ref>>pageRefBits, ref&(1<<pageRefBits-1)
	p := t.pages[num]
	if p == nil {
		if s == nil {
			return
		}
		p = &seriesPage{}
		t.pages[num] = p
	}
	switch old := p.s[i]; {
	case old == nil && s != nil:
		t.n++
	case old != nil && s == nil:
		t.n--
	}
	p.s[i] = s
	if s == nil && p.empty() {
		delete(t.pages, num)
	}
}

func (p *seriesPage) empty() bool {
	for i := range p.s {
		if p.s[i] != nil {
			return false
		}
	}
	return true
}

// len is the number of series.
func (t *seriesTable) len() int { return t.n }

// each calls f with every series (f may remove it with set).
func (t *seriesTable) each(f func(*series)) {
	for _, p := range t.pages {
		for i := range p.s {
			if s := p.s[i]; s != nil {
				f(s)
			}
		}
	}
}
