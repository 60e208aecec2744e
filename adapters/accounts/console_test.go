package accounts_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
)

func TestPriceAtIsTheLatestPriceThatHasStartedAndNotEnded(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		admin := account.Actor{ID: e.admin(t)}
		day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
		set := func(from time.Time, to *time.Time, pricing string) string {
			m, err := e.store.PutModelInfo(ctx, admin, account.ModelInput{Provider: "openai", ModelName: "gpt-4o-mini",
				Pricing: json.RawMessage(pricing), EffectiveFrom: from, EffectiveTo: to})
			if err != nil {
				t.Fatal(err)
			}
			return m.ID
		}
		end := day(3, 1)
		jan := set(day(1, 1), &end, `{"inputPerMillion":1,"outputPerMillion":2}`)
		jun := set(day(6, 1), nil, `{"inputPerMillion":"3.5"}`)
		for _, tc := range []struct {
			at   time.Time
			want string
		}{
			{day(1, 1).Add(-time.Millisecond), ""},
			{day(1, 1), jan},
			{end.Add(-time.Millisecond), jan},
			{end, ""}, // ended, and June's has not started
			{day(6, 1), jun},
			{day(12, 31), jun},
		} {
			p, err := e.store.PriceAt(ctx, "gpt-4o-mini", tc.at)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p != nil {
				got = p.ID
			}
			if got != tc.want {
				t.Fatalf("at %s: price %q, want %q", tc.at, got, tc.want)
			}
		}
		p, _ := e.store.PriceAt(ctx, "gpt-4o-mini", day(7, 1))
		if p.Input.RatString() != "7/2" || p.Output != nil {
			t.Fatalf("rates %v %v", p.Input, p.Output)
		}
		if p, err := e.store.PriceAt(ctx, "gpt-4o", day(7, 1)); err != nil || p != nil {
			t.Fatalf("another model: %v %v", p, err)
		}
		// Only a stored admin sets prices.
		user := account.Actor{ID: e.signup(t, "ada@example.com", "secret1").User.ID}
		if _, err := e.store.PutModelInfo(ctx, user, account.ModelInput{Provider: "p", ModelName: "m",
			Pricing: json.RawMessage(`{}`), EffectiveFrom: day(1, 1)}); domain.ErrorCode(err) != domain.EFORBIDDEN {
			t.Fatalf("err %v", err)
		}
	})
}
