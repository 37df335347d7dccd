package client_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/groupsd/groupsd/client"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	const writers = 10
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := startGroupsd(t, d)
		c := srv.client(t)
		g, err := c.Groups.Create(bg, client.NewGroup{Name: "Contended"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				_, err := c.Groups.Update(bg, g.UUID, func(g *client.Group) error {
					d := ""
					if g.Description != nil {
						d = *g.Description
					}
					g.Description = ptr(strings.TrimSpace(d + fmt.Sprintf(" token-%d", i)))
					return nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Update: %v", err)
			}
		}
		got, err := c.Groups.Get(bg, g.UUID)
		if err != nil {
			t.Fatal(err)
		}
		tokens := strings.Fields(*got.Description)
		slices.Sort(tokens)
		var want []string
		for i := range writers {
			want = append(want, fmt.Sprintf("token-%d", i))
		}
		slices.Sort(want)
		if !slices.Equal(tokens, want) {
			t.Fatalf("description tokens = %v, want each of %v exactly once", tokens, want)
		}
	})
}

func TestUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := startGroupsd(t, d)
		c := srv.client(t)
		g, err := c.Groups.Create(bg, client.NewGroup{Name: "Editable", Description: ptr("old")})
		if err != nil {
			t.Fatal(err)
		}

		t.Run("RenamesAndClearsDescription", func(t *testing.T) {
			got, err := c.Groups.Update(bg, g.UUID, func(g *client.Group) error {
				g.Name, g.Description = "Edited", nil
				return nil
			})
			if err != nil || got.Name != "Edited" || got.Description != nil || got.ETag == g.ETag {
				t.Fatalf("Update = %+v, %v", got, err)
			}
		})

		t.Run("NoChangeWritesNothing", func(t *testing.T) {
			before, _ := c.Groups.Get(bg, g.UUID)
			got, err := c.Groups.Update(bg, g.UUID, func(*client.Group) error { return nil })
			if err != nil || got.ETag != before.ETag {
				t.Fatalf("no-op Update = %+v, %v; want the unchanged group", got, err)
			}
		})

		t.Run("ModifyErrorIsReturnedAsIs", func(t *testing.T) {
			stop := errors.New("not today")
			_, err := c.Groups.Update(bg, g.UUID, func(*client.Group) error { return stop })
			if err != stop {
				t.Fatalf("err = %v, want the modify error itself", err)
			}
		})

		t.Run("MissingGroupIsNotFound", func(t *testing.T) {
			_, err := c.Groups.Update(bg, [16]byte{1}, func(*client.Group) error { return nil })
			if !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})

		t.Run("GivesUpWithATypedConflict", func(t *testing.T) {
			bounded := srv.client(t, client.WithUpdateAttempts(3))
			other := srv.client(t)
			calls := 0
			_, err := bounded.Groups.Update(bg, g.UUID, func(h *client.Group) error {
				calls++
				// Another writer changes the group between our read and our write, every time.
				if _, err := other.Groups.Update(bg, g.UUID, func(o *client.Group) error {
					o.Description = ptr(fmt.Sprintf("other %d", calls))
					return nil
				}); err != nil {
					return err
				}
				h.Name = "Mine"
				return nil
			})
			var conflict *client.UpdateConflictError
			if !errors.As(err, &conflict) || conflict.Attempts != 3 || conflict.UUID != g.UUID || calls != 3 {
				t.Fatalf("err = %v (calls %d), want an *UpdateConflictError after 3 attempts", err, calls)
			}
			if !errors.Is(err, client.ErrPreconditionFailed) {
				t.Fatalf("err = %v, want it to match ErrPreconditionFailed", err)
			}
		})
	})
}
