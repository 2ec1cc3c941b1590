// Package feed provides the sources of trades (a deterministic synthetic
// market, later live and replayed feeds) and the symbol universe that maps
// symbols to names, sectors and shares outstanding. It knows nothing of Kafka.
package feed

import (
	"context"

	"github.com/tradetop/tradetop/trade"
)

// Source produces trades. Run calls emit for each trade, in order, from the
// calling goroutine, until the source is exhausted (it returns nil), ctx is
// done (it returns ctx.Err()), or emit returns an error (it returns that
// error). A blocking emit is backpressure: a generated source simply waits.
type Source interface {
	// Name describes the source for status lines ("synthetic seed=7").
	Name() string
	Run(ctx context.Context, emit func(trade.Trade) error) error
}
