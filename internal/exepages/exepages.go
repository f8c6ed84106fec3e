// Package exepages takes the pages of the running executable that only
// start-up needed out of the process's resident set.
//
// Starting a Go program runs the init of every linked package (about 400 in
// flow), and each touches code and data scattered across the binary; the
// kernel maps the page cache around every such fault (fault-around, 64 KiB),
// so by the time flow is ready most of its text and read-only data, about
// 28 MiB, is mapped and counted in its RSS (RssFile) although a running
// pipeline uses less than half of it. Release unmaps the executable's
// read-only mappings (MADV_DONTNEED): the pages stay in the page cache, the
// ones the process uses again are mapped back on their first access (a
// minor fault, a few hundred of them in all), and the rest stop counting in
// the process's RSS and become ordinary page cache, which the kernel
// reclaims first under memory pressure. Writable mappings (the executable's
// data and bss, the heap) are never touched: discarding a private page
// there would lose what the program wrote.
package exepages
