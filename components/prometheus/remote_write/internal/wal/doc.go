// Package wal is prometheus.remote_write's write-ahead log writer: a
// storage.Appender whose commits go to a Prometheus WAL (tsdb/wlog) in the
// very format Prometheus' agent mode (tsdb/agent) writes, so that
// Prometheus' wlog.Watcher, flow's own WAL readers and a WAL left by an
// earlier flow all read and write the same files.
//
// # Why flow owns this writer
//
// tsdb/agent is what prometheus.remote_write used before. It couples the
// WAL to Prometheus' remote-write storage: agent.Open takes a concrete
// *remote.Storage and decides what it may truncate from
// Storage.LowestSentTimestamp, i.e. from the highest timestamp Prometheus'
// own queues have sent. flow sends through its own queues, so the writer
// must learn "what has been sent" from flow (the lowestSent function given
// to Open), which tsdb/agent cannot do. The writer is also the one place
// every scraped sample passes through, so it is worth making lean:
//
//   - series live by value (32 bytes) in pages indexed by their ref (refs
//     are handed out densely), found by ref without a map, and by label
//     hash through an open-addressing table of refs (hashtable.go, about 14
//     bytes per series; colliding hashes are further entries told apart by
//     their labels): about 50 bytes per series besides its labels, where
//     agent keeps a 48-byte object and two map entries in 16,384 stripes
//     made up front (about 8 MB before the first series);
//   - a commit encodes its records into buffers the (pooled) appender keeps,
//     and writes them with a single wlog.Log call;
//   - counters are added once per transaction, not looked up per sample.
//
// It is built only on Prometheus' public, stable APIs: tsdb/wlog (the log,
// its segments, checkpoints and readers), tsdb/record (encoding) and
// storage.Appender. Everything else is agent's behaviour kept exactly:
// the truncation rule (walTruncationTime), garbage collection of series
// without samples since the truncation time, a checkpoint of the lower
// two thirds of the segments, a new segment at every truncation, the
// repair of a WAL that cannot be read at start-up, duplicate-ref handling
// on replay, and agent's metric names (prometheus_agent_*), which users'
// dashboards know.
package wal
