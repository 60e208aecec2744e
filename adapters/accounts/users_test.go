package accounts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/account"
	"github.com/scanledger/scanledger/domain/auth"
)

func TestSignupCreatesAUserWithRoleUserAndASession(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		s := e.signup(t, "  Ada@Example.com ", "secret1")
		u := s.User
		if !domain.ValidID(u.ID) || u.Email != "Ada@Example.com" || u.Role != auth.RoleUser ||
			*u.FirstName != "Ada" || *u.LastName != "Lovelace" || !u.CreatedAt.Equal(e.clock.Now()) || !u.UpdatedAt.Equal(u.CreatedAt) {
			t.Fatalf("user: %+v", u)
		}
		access, err := e.tokens.Verify(s.AccessToken, auth.Access)
		if err != nil || access.UserID != u.ID || access.Role != auth.RoleUser {
			t.Fatalf("access token: %+v %v", access, err)
		}
		if _, err := e.tokens.Verify(s.RefreshToken, auth.Refresh); err != nil {
			t.Fatalf("refresh token: %v", err)
		}
	})
}

func TestSignupRefusesAnEmailAlreadyTakenInAnyLetterCase(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.signup(t, "ada@example.com", "secret1")
		_, err := e.store.Signup(context.Background(), account.NewUser{Email: "ADA@example.COM", Password: "secret2"})
		if domain.ErrorCode(err) != domain.ECONFLICT || domain.ErrorMessage(err) != "User with this email already exists" {
			t.Fatalf("got %v", err)
		}
	})
}

func TestConcurrentSignupsWithOneEmailCreateOneUser(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := e.store.Signup(context.Background(), account.NewUser{Email: "race@example.com", Password: "secret" + strings.Repeat("x", i)})
				errs <- err
			}()
		}
		ok := 0
		for range n {
			switch err := <-errs; domain.ErrorCode(err) {
			case "":
				ok++
			case domain.ECONFLICT:
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d signups succeeded, want 1", ok)
		}
	})
}

func TestSignupRefusesBadEmailsAndShortPasswords(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		for _, in := range []account.NewUser{
			{Email: "not-an-email", Password: "secret1"},
			{Email: "a@b.c", Password: "secret1"},
			{Email: "ok@example.com", Password: "five5"},
			{Email: "ok@example.com", Password: strings.Repeat("p", account.MaxPasswordLength+1)},
		} {
			if _, err := e.store.Signup(context.Background(), in); domain.ErrorCode(err) != domain.EINVALID {
				t.Errorf("%+v: got %v", in, err)
			}
		}
	})
}

func TestLoginAcceptsTheRightPasswordInAnyEmailCase(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		want := e.signup(t, "ada@example.com", "secret1").User
		s, err := e.store.Login(context.Background(), "ADA@Example.com", "secret1", "192.0.2.1")
		if err != nil || s.User.ID != want.ID || s.AccessToken == "" || s.RefreshToken == "" {
			t.Fatalf("login: %+v %v", s, err)
		}
	})
}

func TestLoginGivesTheSameAnswerForAWrongPasswordAndAnUnknownEmail(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.signup(t, "ada@example.com", "secret1")
		for _, c := range [][2]string{{"ada@example.com", "wrong-password"}, {"nobody@example.com", "secret1"}} {
			_, err := e.store.Login(context.Background(), c[0], c[1], "192.0.2.1")
			if domain.ErrorCode(err) != domain.EUNAUTHORIZED || domain.ErrorMessage(err) != "Invalid credentials" {
				t.Fatalf("%v: got %v", c, err)
			}
		}
	})
}

func TestPasswordsAreStoredAsArgon2idPHCStrings(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.signup(t, "ada@example.com", "secret1")
		e.signup(t, "bob@example.com", "secret1")
		rows, err := e.db.QueryContext(context.Background(), `SELECT password_hash FROM users`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := map[string]bool{}
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(h, "$")
			if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" || parts[3] != "m=64,t=1,p=1" || strings.Contains(h, "secret1") {
				t.Fatalf("hash %q", h)
			}
			if seen[parts[4]] {
				t.Fatalf("salt reused: %q", h)
			}
			seen[parts[4]] = true
		}
	})
}

func TestAUserImportedWithABcryptHashLogsInAndIsRehashed(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		id := e.signup(t, "old@example.com", "whatever").User.ID
		legacy, err := bcrypt.GenerateFromPassword([]byte("from-nest"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		e.exec(t, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, string(legacy))
		if _, err := e.store.Login(context.Background(), "old@example.com", "from-nest", "192.0.2.1"); err != nil {
			t.Fatalf("login with the bcrypt password: %v", err)
		}
		var h string
		if err := e.db.QueryRowContext(context.Background(), `SELECT password_hash FROM users WHERE id = $1`, id).Scan(&h); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$") {
			t.Fatalf("not rehashed: %q", h)
		}
		if _, err := e.store.Login(context.Background(), "old@example.com", "from-nest", "192.0.2.1"); err != nil {
			t.Fatalf("login after the rehash: %v", err)
		}
	})
}

func TestUpdateMeChangesOnlyWhatIsGiven(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		u := e.signup(t, "ada@example.com", "secret1").User
		e.clock.Advance(time.Minute)
		got, err := e.store.UpdateMe(context.Background(), u.ID, account.Changes{FirstName: ptr("Augusta"), Email: ptr("augusta@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "augusta@example.com" || *got.FirstName != "Augusta" || *got.LastName != "Lovelace" ||
			!got.CreatedAt.Equal(u.CreatedAt) || !got.UpdatedAt.Equal(e.clock.Now()) {
			t.Fatalf("updated: %+v", got)
		}
		if _, err := e.store.Login(context.Background(), "augusta@example.com", "secret1", "192.0.2.1"); err != nil {
			t.Fatalf("login with the new email: %v", err)
		}
	})
}

func TestUpdateMeRefusesAnEmailAnotherUserHas(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		e.signup(t, "ada@example.com", "secret1")
		bob := e.signup(t, "bob@example.com", "secret1").User
		_, err := e.store.UpdateMe(context.Background(), bob.ID, account.Changes{Email: ptr("ADA@example.com")})
		if domain.ErrorCode(err) != domain.ECONFLICT {
			t.Fatalf("got %v", err)
		}
		// Keeping one's own email in another case is no conflict.
		if _, err := e.store.UpdateMe(context.Background(), bob.ID, account.Changes{Email: ptr("Bob@example.com")}); err != nil {
			t.Fatalf("own email: %v", err)
		}
	})
}

func TestANewPasswordReplacesTheOldAndEndsEverySession(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		s := e.signup(t, "ada@example.com", "secret1")
		if _, err := e.store.UpdateMe(context.Background(), s.User.ID, account.Changes{Password: ptr("better-secret")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Login(context.Background(), "ada@example.com", "secret1", "192.0.2.1"); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
			t.Fatalf("old password: %v", err)
		}
		if _, err := e.store.Login(context.Background(), "ada@example.com", "better-secret", "192.0.2.1"); err != nil {
			t.Fatalf("new password: %v", err)
		}
		if _, err := e.store.Refresh(context.Background(), s.RefreshToken); domain.ErrorMessage(err) != "Invalid refresh token" {
			t.Fatalf("a session from before the change still refreshes: %v", err)
		}
	})
}

func TestMeListsHousesWithScanCountsAndCustomChecklists(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.signup(t, "ada@example.com", "secret1").User
		other := domain.NewID()
		d := e.db.Dialect
		at := func(min int) any { return d.Time(e.clock.Now().Add(time.Duration(min) * time.Minute)) }
		house := func(id, owner string, updated int) {
			e.exec(t, `INSERT INTO houses (id, user_id, address, status, created_at, updated_at) VALUES ($1, $2, 'Somewhere', 'active', $3, $4)`,
				id, owner, at(0), at(updated))
		}
		scan := func(houseID, owner string) {
			e.exec(t, `INSERT INTO scans (id, house_id, status, inputs_snapshot, created_at, user_id, version, updated_at)
				VALUES ($1, $2, 'queued', $3, $4, $5, 0, $4)`, domain.NewID(), houseID, d.JSON([]byte(`{}`)), at(0), owner)
		}
		older, newer, foreign := domain.NewID(), domain.NewID(), domain.NewID()
		house(older, u.ID, 1)
		house(newer, u.ID, 5)
		house(foreign, other, 9)
		scan(older, u.ID)
		scan(older, u.ID)
		scan(newer, u.ID)
		scan(foreign, other)
		if _, err := e.store.PutCustomChecklist(ctx, u.ID, "room", account.ChecklistPatch{}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		if _, err := e.store.PutCustomChecklist(ctx, u.ID, "house", account.ChecklistPatch{}); err != nil {
			t.Fatal(err)
		}

		p, err := e.store.Me(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.User.ID != u.ID || len(p.Houses) != 2 || p.Houses[0].ID != newer || p.Houses[0].Scans != 1 ||
			p.Houses[1].ID != older || p.Houses[1].Scans != 2 || *p.Houses[1].Address != "Somewhere" || p.Houses[1].Status != "active" {
			t.Fatalf("profile houses: %+v", p.Houses)
		}
		if len(p.Checklists) != 2 || p.Checklists[0].Scope != "house" || p.Checklists[1].Scope != "room" || p.Checklists[0].IsBase {
			t.Fatalf("profile checklists: %+v", p.Checklists)
		}
	})
}

func TestMeOfAnUnknownUserIsNotFound(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		for _, id := range []string{domain.NewID(), "not-a-uuid"} {
			if _, err := e.store.Me(context.Background(), id); domain.ErrorMessage(err) != "User not found" {
				t.Fatalf("%s: got %v", id, err)
			}
		}
	})
}

func TestRoleIsReadFromTheDatabaseAndSetRoleChangesIt(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u := e.signup(t, "ada@example.com", "secret1").User
		if r, err := e.store.Role(ctx, u.ID); err != nil || r != auth.RoleUser {
			t.Fatalf("role %q %v", r, err)
		}
		if err := e.store.SetRole(ctx, "ADA@example.com", auth.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if r, _ := e.store.Role(ctx, u.ID); r != auth.RoleAdmin {
			t.Fatalf("role %q", r)
		}
		if err := e.store.SetRole(ctx, "ada@example.com", "superuser"); domain.ErrorCode(err) != domain.EINVALID {
			t.Fatalf("unknown role: %v", err)
		}
		if err := e.store.SetRole(ctx, "nobody@example.com", auth.RoleAdmin); domain.ErrorCode(err) != domain.ENOTFOUND {
			t.Fatalf("unknown user: %v", err)
		}
	})
}
