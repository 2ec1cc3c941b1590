// Package alert judges the rules of an --alerts file on the pipeline's
// snapshots and the monitor's reports of them, and acts on what fires: the
// pipeline shows it in its next snapshots (the Events pane of every view,
// a mark on the symbol's row), the log has a line, the metrics count it,
// and a rule's actions (a command, a webhook) run from a bounded queue on
// a goroutine of their own.
//
// Rules are judged in one place, on the goroutine of the monitor's
// Watcher, once per snapshot: never in a view. Like the monitor it reads
// time only from the snapshots, and it imports neither the pipeline, nor
// Kafka, nor a store.
package alert
