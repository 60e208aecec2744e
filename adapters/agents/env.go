package agents

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// FromEnv returns a Client configured by the original backend's agents settings
// (contract Appendix A), so an operator's existing .env keeps working: PYTHON_AGENTS_BASE_URL (required),
// PYTHON_AGENTS_TIMEOUT (ms per try), PYTHON_AGENTS_RETRY_COUNT (tries after the first)
// and PYTHON_AGENTS_RETRY_DELAY (ms, the backoff base). Unset ones keep this package's
// defaults, which differ from the original's on purpose (3 tries instead of 2, and only
// for failures a new try can cure). getenv is os.Getenv in production.
func FromEnv(getenv func(string) string) (*Client, error) {
	baseURL := getenv("PYTHON_AGENTS_BASE_URL")
	if baseURL == "" {
		return nil, errors.New("PYTHON_AGENTS_BASE_URL is not set")
	}
	c := New(baseURL)
	num := func(name string, least int) (int, bool, error) {
		v := getenv(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < least {
			return 0, false, fmt.Errorf("%s=%q: want an integer >= %d", name, v, least)
		}
		return n, true, nil
	}
	if ms, ok, err := num("PYTHON_AGENTS_TIMEOUT", 1); err != nil {
		return nil, err
	} else if ok {
		c.CallTimeout = time.Duration(ms) * time.Millisecond
	}
	if n, ok, err := num("PYTHON_AGENTS_RETRY_COUNT", 0); err != nil {
		return nil, err
	} else if ok {
		c.MaxTries = n + 1
	}
	if ms, ok, err := num("PYTHON_AGENTS_RETRY_DELAY", 1); err != nil {
		return nil, err
	} else if ok {
		c.BackoffBase = time.Duration(ms) * time.Millisecond
	}
	return c, nil
}
