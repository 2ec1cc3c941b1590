package sqlite

import (
	"context"
	"database/sql"
	"net/url"
)

// checkpointRows is how many rows Write commits between two background
// checkpoints: about 5 MiB of WAL with 2000-trade batches over 50 symbols.
const checkpointRows = 10000

// walAutocheckpoint is the WAL size, in pages, at which the writer
// checkpoints by itself after a commit. The background checkpointer keeps the
// WAL well below it; when it falls behind, or writes never pause long enough
// for the WAL to start over, the writer's own checkpoint copies what is left
// and lets the next transaction restart the WAL from its beginning.
const walAutocheckpoint = 16384 // 64 MiB of 4 KiB pages

// checkpointer copies committed WAL frames into the database file on its own
// connection and goroutine, so that Write does not wait for the copy and its
// syncs. Only the goroutine holding Store.wmu calls wrote; close is called
// once, by Store.closeAll.
type checkpointer struct {
	db     *sql.DB
	kick   chan struct{} // buffered: one pending kick stands for any number
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	rows   int           // rows committed since the last kick
}

// startCheckpointer opens a connection with params to the database at abs
// and starts checkpointing in the background.
func startCheckpointer(abs string, params url.Values) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(abs, params))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

// wrote records that a commit of n rows succeeded, and starts a checkpoint
// once checkpointRows have accumulated.
func (c *checkpointer) wrote(n int) {
	c.rows += n
	if c.rows < checkpointRows {
		return
	}
	c.rows = 0
	select {
	case c.kick <- struct{}{}:
	default: // one is pending already
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		// PASSIVE copies what it can without waiting for the writer or
		// readers. A failure loses nothing: the frames stay in the WAL
		// and the next checkpoint, here or the writer's, copies them.
		_, _ = c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// close stops the goroutine, waits for it and closes the connection.
func (c *checkpointer) close() error {
	c.cancel()
	<-c.done
	return c.db.Close()
}
