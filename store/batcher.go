package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
)

// maxBatch bounds one group-commit transaction.
const maxBatch = 512

// maxLinger bounds how long a batch waits for the writers of the previous
// one; well under the cost of the commit (an fsync, about 1 ms) it saves.
const maxLinger = time.Millisecond

// batcher implements group commit: one goroutine takes every write waiting
// at that moment and commits them in a single transaction, so one fsync
// acknowledges many requests. With synchronous=FULL a commit costs about a
// millisecond; batching is what lets writes scale past ~1,000/s without
// weakening durability. Creates are inserted together in one statement;
// other writes (op) run one after another, each inside its own savepoint, so
// one request's failure rolls back only its own changes.
type batcher struct {
	db   *DB
	reqs chan *createReq
	wg   sync.WaitGroup
	once sync.Once
	done chan struct{}
}

type createReq struct {
	ctx context.Context
	row groupRow
	// op, when set, makes this a general write instead of a create: it runs
	// inside the shared transaction, in a savepoint of its own.
	op   func(tx *gorm.DB) error
	err  error
	done chan struct{}
}

func newBatcher(db *DB) *batcher {
	b := &batcher{db: db, reqs: make(chan *createReq, maxBatch), done: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

func (b *batcher) submit(ctx context.Context, row groupRow) (Group, error) {
	r := &createReq{ctx: ctx, row: row, done: make(chan struct{})}
	if err := b.wait(r); err != nil {
		return Group{}, err
	}
	return r.row.group(), nil
}

// submitOp runs op in the next group commit and returns its error, or the
// commit's. op must assign (not accumulate) its results: it runs once.
func (b *batcher) submitOp(ctx context.Context, op func(tx *gorm.DB) error) error {
	return b.wait(&createReq{ctx: ctx, op: op, done: make(chan struct{})})
}

func (b *batcher) wait(r *createReq) error {
	select {
	case b.reqs <- r:
	case <-b.done:
		return ErrUnavailable
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
	// Once queued the request is always answered: the loop may already be
	// committing it, so leaving early could hide an acknowledged write.
	<-r.done
	return r.err
}

func (b *batcher) loop() {
	defer b.wg.Done()
	batch := make([]*createReq, 0, maxBatch)
	prev := 1
	for {
		var first *createReq
		select {
		case first = <-b.reqs:
		case <-b.done:
			// Drain what was queued before close, then stop.
			for {
				select {
				case r := <-b.reqs:
					b.commit([]*createReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		// Under load the clients of the last batch come back together, a
		// moment after it committed: wait briefly (at most maxLinger) until
		// as many are queued as last time, so one fsync serves them all
		// instead of a trickle of small batches. A lone writer (last batch
		// of one) never waits.
		want := min(prev, maxBatch)
		var linger *time.Timer
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
				continue
			default:
			}
			if len(batch) >= want {
				break
			}
			if linger == nil {
				linger = time.NewTimer(maxLinger)
			}
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			case <-linger.C:
				break fill
			case <-b.done:
				break fill
			}
		}
		if linger != nil {
			linger.Stop()
		}
		prev = len(batch)
		b.commit(batch)
	}
}

// commit inserts the live requests of batch in one transaction. A name
// conflict fails only its own request; a failed commit fails them all.
func (b *batcher) commit(batch []*createReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The commit is shared, so no one request's cancellation may abort it,
	// but it must not outlive every request waiting on it: an unreachable
	// database would otherwise hold them all past their deadlines.
	limit := time.Now().Add(30 * time.Second)
	var latest time.Time
	for _, r := range live {
		d, ok := r.ctx.Deadline()
		if !ok || d.After(limit) {
			latest = limit
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), latest)
	defer cancel()
	var creates, ops []*createReq
	for _, r := range live {
		if r.op != nil {
			ops = append(ops, r)
		} else {
			creates = append(creates, r)
		}
	}
	err := withRetry(ctx, func() error {
		return b.db.boundedWrite(ctx, func(w *gorm.DB) error {
			return w.Transaction(func(tx *gorm.DB) error {
				for _, r := range live {
					r.err = nil // of an attempt that was rolled back
				}
				if len(creates) > 0 {
					if err := b.db.insertCreates(tx, creates); err != nil {
						return err
					}
				}
				for _, r := range ops {
					if err := runInSavepoint(tx, r.op); err != nil {
						if errors.Is(err, errBatchBroken) {
							return err
						}
						r.err = err
					}
				}
				return nil
			})
		})
	})
	for _, r := range live {
		if err != nil {
			r.err = translate(err)
		}
		close(r.done)
	}
}

// insertCreates inserts the rows of creates in one statement; a name
// conflict fails only its own request.
func (db *DB) insertCreates(tx *gorm.DB, creates []*createReq) error {
	rows := make([]groupRow, len(creates))
	for i, r := range creates {
		rows[i] = r.row
	}
	ok, err := db.insertRows(tx, rows)
	if err != nil {
		return err
	}
	counts := map[string]int64{}
	for i, r := range creates {
		if ok[i] {
			counts[r.row.Org]++
		} else {
			r.err = &NameTakenError{Name: r.row.Name}
		}
	}
	for org, n := range counts {
		if err := addCount(tx, org, n); err != nil {
			return err
		}
	}
	return nil
}

// errBatchBroken wraps a failure that leaves the shared transaction
// unusable (the savepoint itself could not be taken or undone).
var errBatchBroken = errors.New("group commit transaction broken")

// runInSavepoint runs op in a savepoint of tx: if op fails, its changes are
// undone and the rest of the transaction goes on. The savepoint statements
// go to the connection directly (no GORM statement building: they run for
// every write in a batch).
func runInSavepoint(tx *gorm.DB, op func(tx *gorm.DB) error) error {
	ctx, c := tx.Statement.Context, tx.Statement.ConnPool
	exec := func(q string) error {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%w: %w", errBatchBroken, translate(err))
		}
		return nil
	}
	if err := exec("SAVEPOINT op"); err != nil {
		return err
	}
	if opErr := op(tx); opErr != nil {
		if err := exec("ROLLBACK TO SAVEPOINT op"); err != nil {
			return err
		}
		if err := exec("RELEASE SAVEPOINT op"); err != nil {
			return err
		}
		return opErr
	}
	return exec("RELEASE SAVEPOINT op")
}

func (b *batcher) close() {
	b.once.Do(func() { close(b.done) })
	b.wg.Wait()
}

// write runs fn as one write and returns its error; fn must assign (not
// accumulate) its results, since it may run more than once. On SQLite it
// joins the group commit (one writer; one fsync serves the whole batch). On
// Postgres, which overlaps the WAL flushes of concurrent commits by itself,
// it runs in a transaction of its own, retried (withRetry) when Postgres
// aborts it to break a deadlock or a serialization conflict.
func (db *DB) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if db.dialect == SQLite {
		return db.creates.submitOp(ctx, fn)
	}
	return translate(withRetry(ctx, func() error { return db.w.WithContext(ctx).Transaction(fn) }))
}
