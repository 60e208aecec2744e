package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/scan"
)

// Price is a model's price from the registry (GET/POST /models-info): US dollars per
// million input (prompt) and output (completion) tokens. A nil rate is not priced.
type Price struct {
	ID     string // the registry row, recorded on the run as its model id
	Input  *big.Rat
	Output *big.Rat
}

// Prices is the model price registry.
type Prices interface {
	// PriceAt returns the price of model in effect at t, or nil when none is.
	PriceAt(ctx context.Context, model string, at time.Time) (*Price, error)
}

// Pricing keys scanledger reads from a registry row's free-form pricing object.
const (
	PricingInput  = "inputPerMillion"
	PricingOutput = "outputPerMillion"
)

// ParsePricing reads the rates of a pricing object: each present key must be a
// non-negative number (a JSON number or a decimal string). Other keys are kept by the
// registry but not read. EINVALID when it is not an object or a rate is malformed.
func ParsePricing(raw json.RawMessage) (in, out *big.Rat, err error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, nil, domain.Errorf(domain.EINVALID, "pricing must be an object")
	}
	rate := func(key string) (*big.Rat, error) {
		v, found := obj[key]
		if !found || string(v) == "null" {
			return nil, nil
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok || r.Sign() < 0 || len(s) > 40 {
			return nil, domain.Errorf(domain.EINVALID, "pricing.%s must be a non-negative number of US dollars per million tokens", key)
		}
		return r, nil
	}
	if in, err = rate(PricingInput); err != nil {
		return nil, nil, err
	}
	if out, err = rate(PricingOutput); err != nil {
		return nil, nil, err
	}
	return in, out, nil
}

// cost is what tokensIn and tokensOut cost at p, or nil when p has no rate for tokens
// that were used.
func (p *Price) cost(tokensIn, tokensOut int) *big.Rat {
	total := new(big.Rat)
	for _, part := range []struct {
		rate   *big.Rat
		tokens int
	}{{p.Input, tokensIn}, {p.Output, tokensOut}} {
		if part.tokens == 0 {
			continue
		}
		if part.rate == nil {
			return nil
		}
		total.Add(total, new(big.Rat).Mul(part.rate, big.NewRat(int64(part.tokens), 1_000_000)))
	}
	return total
}

// pricingError is a failed price look-up: the result is fine, the registry could not
// be read, so the attempt is not failed for it (the worker stops as when an append fails).
type pricingError struct{ err error }

func (e *pricingError) Error() string { return "price agent runs: " + e.err.Error() }
func (e *pricingError) Unwrap() error { return e.err }

// priceRuns links each run with a model to the price in effect when it started, and
// where the analyzer gave no cost (analyzerCost false) computes the cost from that
// price. The cost is written into the run, and so into its event: a later change of
// the price never rewrites it. It returns the total it computed, or nil when it
// computed none.
func priceRuns(ctx context.Context, prices Prices, runs []scan.AgentRun, analyzerCost bool) (*big.Rat, error) {
	if prices == nil {
		return nil, nil
	}
	var total *big.Rat
	for i := range runs {
		r := &runs[i]
		if r.Model == "" {
			continue
		}
		p, err := prices.PriceAt(ctx, r.Model, r.StartedAt)
		if err != nil {
			return nil, &pricingError{fmt.Errorf("%s at %s: %w", r.Model, r.StartedAt.Format(time.RFC3339), err)}
		}
		if p == nil {
			continue
		}
		r.ModelID = p.ID
		if analyzerCost {
			continue
		}
		if c := p.cost(r.TokensIn, r.TokensOut); c != nil {
			r.CostUSD = decimal(c)
			if total == nil {
				total = new(big.Rat)
			}
			total.Add(total, c)
		}
	}
	return total, nil
}

// decimal prints r with up to 12 places and no trailing zeros ("0.00012").
func decimal(r *big.Rat) string {
	s := r.FloatString(12)
	for len(s) > 1 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
