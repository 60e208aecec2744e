// Package account holds the words of user accounts that the accounts store and the
// HTTP API share: users and sessions, checklists, the admin console's rows and pages,
// the bounds a request is checked against, and the rate-limit refusal. The store
// (adapters/accounts) keeps them; httpapi decodes requests into them and encodes them.
package account

import (
	"encoding/json"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/checklist"
	"github.com/scanledger/scanledger/domain/worker"
)

// Length bounds, in characters. The minimum password and the name maximum are the
// original's (the PWA checks the password too); the password maximum keeps one request
// from hashing megabytes.
const (
	MinPasswordLength = 6
	MaxPasswordLength = 256
	MaxNameLength     = 100
)

// User is a row of users, without its password hash.
type User struct {
	ID        string
	Email     string
	FirstName *string
	LastName  *string
	Role      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Session is what signup, login and refresh hand out.
type Session struct {
	AccessToken  string
	RefreshToken string
	User         User
}

// NewUser is a signup.
type NewUser struct {
	Email     string
	Password  string
	FirstName *string
	LastName  *string
	ClientIP  string // signups per address are limited (LoginLimits.SignupsPerIP)
}

// Changes to a user; nil fields stay as they are.
type Changes struct {
	Email     *string
	Password  *string
	FirstName *string
	LastName  *string
}

// Profile is GET /users/me: the user, their houses and their custom checklists.
type Profile struct {
	User       User
	Houses     []House     // most recently updated first
	Checklists []Checklist // custom ones, newest first, without ItemsRaw
}

// House is one of a user's houses, from the scans read model.
type House struct {
	ID        string
	Address   *string
	HouseType *string
	Status    string
	CreatedAt time.Time
	UpdatedAt time.Time
	Scans     int
}

// Checklist is a row of checklists: a base checklist (IsBase, no UserID) or a user's
// custom one.
type Checklist struct {
	ID        string
	Scope     string
	Name      string
	Version   int
	IsBase    bool
	UserID    *string
	ItemsRaw  json.RawMessage // nil in listings that leave it out
	CreatedAt time.Time
	// Enabled is false for a base checklist an admin disabled: it is then left out of
	// GET /checklists/base/:scope and of every merge until enabled again.
	Enabled bool
}

// ChecklistPatch is the body of PUT /checklists/... and PATCH /checklists/:id. Zero
// fields leave the row as it is (a version of 0 is ignored, as the original ignored a
// falsy one); a new row takes the defaults for what is missing.
type ChecklistPatch struct {
	Name     *string
	Version  int
	ItemsRaw json.RawMessage
}

// MaxChecklistNameLength bounds a checklist's name (characters): the settings page
// shows it.
const MaxChecklistNameLength = 200

// Check validates a patch for scope: itemsRaw must be a checklist the agents can use
// (checklist.Validate), and the version must fit the column.
func (p ChecklistPatch) Check(scope string) error {
	if p.Name != nil && utf8.RuneCountInString(*p.Name) > MaxChecklistNameLength {
		return domain.Errorf(domain.EINVALID, "name must be shorter than or equal to %d characters", MaxChecklistNameLength)
	}
	if p.Name != nil {
		if err := domain.CheckText("name", *p.Name); err != nil {
			return err
		}
	}
	if p.Version < 0 || p.Version > math.MaxInt32 {
		return domain.Errorf(domain.EINVALID, "version must be a positive integer")
	}
	if p.ItemsRaw != nil {
		return checklist.Validate(scope, p.ItemsRaw)
	}
	return nil
}

// Changed lists what a patch sets, for the access trail: names only, never contents.
func (p ChecklistPatch) Changed() string {
	var parts []string
	if p.Name != nil {
		parts = append(parts, "name")
	}
	if p.Version != 0 {
		parts = append(parts, "version")
	}
	if p.ItemsRaw != nil {
		parts = append(parts, "itemsRaw")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// Actor is who makes a change, for the role check and the access trail.
type Actor struct {
	ID        string
	Role      string // the role the change is made in, once checked
	RequestID string
}

// Page asks for one page of a list, newest first. Cursor is "" for the first page, or
// the Next of the page before.
type Page struct {
	Limit  int
	Cursor string
}

// Page limits.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Dashboard is GET /admin/dashboard: row counts.
type Dashboard struct {
	Users, Houses, Scans, BaseChecklists int
}

// Owner is a user as the console shows them next to their data. Both are nil when the
// owner has no account row (a token for a user that never signed up).
type Owner struct {
	ID    *string
	Email *string
}

// ConsoleHouse is a row of GET /admin/houses.
type ConsoleHouse struct {
	House
	UserID string
	Owner  Owner
}

// ConsoleScan is a row of GET /admin/scans.
type ConsoleScan struct {
	ID, HouseID, UserID, Status string
	InputsSnapshot              json.RawMessage
	DetectedHouseTypes          []string
	StartedAt, FinishedAt       *time.Time
	CreatedAt                   time.Time
	Attempt                     int
	FailureCode                 *string
	Address                     *string
	Owner                       Owner
	Rooms, Images, AgentRuns    int
}

// AgentRun is a row of agents_runs, with what the console joins to it.
type AgentRun struct {
	ID, ScanID, AgentName string
	ModelID               *string
	InputJSON, OutputJSON json.RawMessage // nil when NULL
	PromptHash            *string
	TokensIn, TokensOut   *int
	CostUSD               *string // decimal text, e.g. "0.0012"
	CacheHit              bool
	StartedAt, FinishedAt *time.Time
	CreatedAt             time.Time
	Attempt               int
	Model                 *string // the model name the analyzer reported

	// Joined by the console only.
	Address    *string
	OwnerEmail *string
	ModelName  *string // of the models-info row (nil when none is linked)
	Provider   *string
}

// ModelInfo is a row of models_info: a model's price from a date.
type ModelInfo struct {
	ID, Provider, ModelName string
	Version                 *string
	Pricing                 json.RawMessage
	EffectiveFrom           time.Time
	EffectiveTo             *time.Time
	CreatedAt, UpdatedAt    time.Time
	UpdatedBy               *string
	AgentRuns               int // runs linked to this price (the console's _count)
}

// ModelInput is POST /models-info's body, decoded.
type ModelInput struct {
	Provider, ModelName string
	Version             *string
	Pricing             json.RawMessage
	EffectiveFrom       time.Time
	EffectiveTo         *time.Time
}

// MaxModelTextLength bounds provider, model name and version (characters).
const MaxModelTextLength = 200

// Check validates a price: texts present and bounded, pricing the worker can use, a
// period that ends after it starts.
func (in ModelInput) Check() error {
	for _, f := range []struct{ name, v string }{{"provider", in.Provider}, {"modelName", in.ModelName}} {
		if strings.TrimSpace(f.v) == "" {
			return domain.Errorf(domain.EINVALID, "%s should not be empty", f.name)
		}
		if utf8.RuneCountInString(f.v) > MaxModelTextLength {
			return domain.Errorf(domain.EINVALID, "%s must be shorter than or equal to %d characters", f.name, MaxModelTextLength)
		}
	}
	if in.Version != nil && utf8.RuneCountInString(*in.Version) > MaxModelTextLength {
		return domain.Errorf(domain.EINVALID, "version must be shorter than or equal to %d characters", MaxModelTextLength)
	}
	if len(in.Pricing) > 16<<10 {
		return domain.Errorf(domain.EINVALID, "pricing must be at most 16 KiB")
	}
	if _, _, err := worker.ParsePricing(in.Pricing); err != nil {
		return err
	}
	if in.EffectiveTo != nil && !in.EffectiveTo.After(in.EffectiveFrom) {
		return domain.Errorf(domain.EINVALID, "effectiveTo must be later than effectiveFrom")
	}
	return nil
}

// RateLimitError is ERATELIMIT with the time after which a new attempt may pass.
type RateLimitError struct {
	RetryAfter time.Duration
	err        *domain.Error
}

func (e *RateLimitError) Error() string { return e.err.Error() }

// Unwrap gives the *domain.Error, so domain.ErrorCode and ErrorMessage see it.
func (e *RateLimitError) Unwrap() error { return e.err }

// RateLimited is a RateLimitError whose message is format with args.
func RateLimited(retryAfter time.Duration, format string, args ...any) *RateLimitError {
	return &RateLimitError{RetryAfter: retryAfter, err: domain.Errorf(domain.ERATELIMIT, format, args...)}
}

// ValidEmail reports whether s is an email address by the rules of the original's
// class-validator IsEmail (validator.js isEmail with its defaults), minus the rarely
// used forms it also allows (quoted local parts, display names): a dot-atom local part
// of at most 64 bytes, '@', and a domain name of at least two labels whose last is a
// top-level domain of letters; 254 bytes at most.
func ValidEmail(s string) bool {
	if len(s) > 254 || !utf8.ValidString(s) {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	return validLocal(s[:at]) && validDomain(s[at+1:])
}

func validLocal(l string) bool {
	if len(l) > 64 {
		return false
	}
	for _, atom := range strings.Split(l, ".") {
		if atom == "" { // leading, trailing or doubled dot
			return false
		}
		for _, r := range atom {
			if !(r > 127 && unicode.IsPrint(r) && !unicode.IsSpace(r)) && !isAtext(r) {
				return false
			}
		}
	}
	return true
}

// isAtext is RFC 5322's atext in ASCII.
func isAtext(r rune) bool {
	return r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r))
}

func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || utf8.RuneCountInString(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r == '-' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') ||
				r > 127 && unicode.IsLetter(r)) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(strings.ToLower(tld), "xn--") {
		return len(tld) > 4
	}
	if utf8.RuneCountInString(tld) < 2 {
		return false
	}
	for _, r := range tld {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}
