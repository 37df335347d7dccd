package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/client"
)

func ExampleNew() {
	baseURL, apiKey := exampleServer() // e.g. "https://groups.example.com", "gk_..."

	c, err := client.New(baseURL,
		client.WithAPIKey(apiKey),
		client.WithUserAgent("billing-sync/1.2"),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Groups != nil)
	// Output: true
}

func ExampleGroupService_Create() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	desc := "Approves every expense over 1,000 EUR."
	g, err := c.Groups.Create(ctx, client.NewGroup{Name: "  Finance ", Description: &desc})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q: %s\n", g.Name, *g.Description)

	_, err = c.Groups.Create(ctx, client.NewGroup{Name: "FINANCE"})
	fmt.Println(errors.Is(err, client.ErrNameTaken))
	// Output:
	// "Finance": Approves every expense over 1,000 EUR.
	// true
}

func ExampleGroupService_Get() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	created, err := c.Groups.Create(ctx, client.NewGroup{Name: "Engineering"})
	if err != nil {
		log.Fatal(err)
	}

	g, err := c.Groups.Get(ctx, created.UUID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.Name, g.Description == nil, g.ETag != "")
	// Output: Engineering true true
}

func ExampleGroupService_List() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"Marketing", "Finance", "Engineering", "Fintech"} {
		if _, err := c.Groups.Create(ctx, client.NewGroup{Name: name}); err != nil {
			log.Fatal(err)
		}
	}

	// Pages of two, fetched as the loop goes, to the very end.
	for g, err := range c.Groups.List(ctx, client.ListOptions{PageSize: 2, Sort: []string{"name,asc"}}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(g.Name)
	}
	// Output:
	// Engineering
	// Finance
	// Fintech
	// Marketing
}

func ExampleGroupService_Update() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	g, err := c.Groups.Create(ctx, client.NewGroup{Name: "Sales"})
	if err != nil {
		log.Fatal(err)
	}

	// modify may run again on fresh data if someone else wrote in between:
	// compute only from the group it is given.
	updated, err := c.Groups.Update(ctx, g.UUID, func(g *client.Group) error {
		g.Name = strings.ToUpper(g.Name)
		note := "Renamed by the SDK example."
		g.Description = &note
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(updated.Name, *updated.Description)
	// Output: SALES Renamed by the SDK example.
}

func ExampleErrNotFound() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}

	_, err = c.Groups.Get(context.Background(), uuid.MustParse("0193a1f4-6c2e-7d8a-9b1c-2f3e4d5a6b7c"))
	switch {
	case errors.Is(err, client.ErrNotFound):
		fmt.Println("no such group")
	case err != nil:
		log.Fatal(err)
	}

	// Every API error is an *client.Error with the problem's details.
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code, apiErr.RequestID != "")
	}
	// Output:
	// no such group
	// 404 NOT_FOUND true
}

func ExampleGroupService_Delete() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	g, err := c.Groups.Create(ctx, client.NewGroup{Name: "Temporary"})
	if err != nil {
		log.Fatal(err)
	}

	fmt.Println(c.Groups.Delete(ctx, g.UUID))
	fmt.Println(errors.Is(c.Groups.Delete(ctx, g.UUID), client.ErrNotFound))
	// Output:
	// <nil>
	// true
}

func ExampleMemberService() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	g, err := c.Groups.Create(ctx, client.NewGroup{Name: "Finance"})
	if err != nil {
		log.Fatal(err)
	}

	_, created, err := c.Members.Add(ctx, g.UUID, "user-42")
	fmt.Println("added:", created, err)
	_, created, err = c.Members.Add(ctx, g.UUID, "user-42")
	fmt.Println("added again:", created, err)

	res, err := c.Members.Change(ctx, g.UUID, client.MembersChange{
		Add:    []string{"user-7", "user-42", "Zoe"},
		Remove: []string{"user-9"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("added:", res.Added, "already:", res.AlreadyMembers, "not members:", res.NotMembers)

	for m, err := range c.Members.List(ctx, g.UUID, client.MemberListOptions{PageSize: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("member:", m.UserID)
	}
	g, _ = c.Groups.Get(ctx, g.UUID)
	fmt.Println("memberCount:", g.MemberCount)

	for ug, err := range c.Members.UserGroups(ctx, "user-7", client.ListOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("user-7 is in:", ug.Name)
	}

	_ = c.Members.Remove(ctx, g.UUID, "user-7")
	_, err = c.Members.Get(ctx, g.UUID, "user-7")
	fmt.Println(errors.Is(err, client.ErrMemberNotFound))
	// Output:
	// added: true <nil>
	// added again: false <nil>
	// added: [user-7 Zoe] already: [user-42] not members: [user-9]
	// member: Zoe
	// member: user-42
	// member: user-7
	// memberCount: 3
	// user-7 is in: Finance
	// true
}

func ExampleGroupService_Archive() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	g, err := c.Groups.Create(ctx, client.NewGroup{Name: "Travel"})
	if err != nil {
		log.Fatal(err)
	}

	g, err = c.Groups.Archive(ctx, g.UUID)
	fmt.Println(g.Status, g.ArchivedAt != nil, err)
	_, _, err = c.Members.Add(ctx, g.UUID, "user-42")
	fmt.Println(errors.Is(err, client.ErrGroupArchived))

	for a, err := range c.Groups.List(ctx, client.ListOptions{Status: client.StatusArchived}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("archived:", a.Name)
	}
	g, err = c.Groups.Reactivate(ctx, g.UUID)
	fmt.Println(g.Status, g.ArchivedAt != nil, err)
	// Output:
	// ARCHIVED true <nil>
	// true
	// archived: Travel
	// ACTIVE false <nil>
}

func ExampleReferenceService() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	g, err := c.Groups.Create(ctx, client.NewGroup{Name: "Finance"})
	if err != nil {
		log.Fatal(err)
	}

	// An approval service registers that its chain hangs on the group.
	_, created, err := c.References.Put(ctx, g.UUID, client.Reference{
		ID: "chain-7", Kind: "approval-chain", DisplayName: "Travel approvals",
		URL: "https://approvals.example.com/chains/7",
	})
	fmt.Println("registered:", created, err)

	check, err := c.Groups.CheckDelete(ctx, g.UUID)
	fmt.Println("deletable:", check.Deletable, check.TotalReferences, err)

	err = c.Groups.Delete(ctx, g.UUID)
	var apiErr *client.Error
	if errors.Is(err, client.ErrGroupInUse) && errors.As(err, &apiErr) {
		for _, r := range apiErr.References {
			fmt.Printf("in use by %s %q\n", r.Kind, r.DisplayName)
		}
	}

	_ = c.References.Delete(ctx, g.UUID, "chain-7")
	fmt.Println(c.Groups.Delete(ctx, g.UUID))
	// Output:
	// registered: true <nil>
	// deletable: false 1 <nil>
	// in use by approval-chain "Travel approvals"
	// <nil>
}

func ExampleTrashService() {
	baseURL, apiKey := exampleServer()
	c, err := client.New(baseURL, client.WithAPIKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	g, err := c.Groups.Create(ctx, client.NewGroup{Name: "Marketing"})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Groups.Delete(ctx, g.UUID); err != nil {
		log.Fatal(err)
	}

	for d, err := range c.Trash.List(ctx, client.TrashListOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("in the trash:", d.Name, d.PurgeAt.After(d.DeletedAt))
	}

	// The name was freed by the delete and someone took it.
	if _, err := c.Groups.Create(ctx, client.NewGroup{Name: "Marketing"}); err != nil {
		log.Fatal(err)
	}
	_, err = c.Trash.Restore(ctx, g.UUID, client.RestoreOptions{})
	fmt.Println(errors.Is(err, client.ErrNameTaken))
	back, err := c.Trash.Restore(ctx, g.UUID, client.RestoreOptions{Name: "Marketing (old)"})
	fmt.Println("restored:", back.Name, back.UUID == g.UUID, err)

	// Purge skips the retention period: gone for good.
	_ = c.Groups.Delete(ctx, g.UUID)
	fmt.Println(c.Trash.Purge(ctx, g.UUID))
	_, err = c.Trash.Get(ctx, g.UUID)
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// in the trash: Marketing true
	// true
	// restored: Marketing (old) true <nil>
	// <nil>
	// true
}
