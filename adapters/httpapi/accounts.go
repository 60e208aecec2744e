package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain/account"
	"github.com/scanledger/scanledger/domain/erasure"
	"github.com/scanledger/scanledger/domain/trail"
)

// Accounts is the user store behind /auth/* and /users/me (adapters/accounts.Store).
type Accounts interface {
	Signup(ctx context.Context, in account.NewUser) (account.Session, error)
	// Login refuses with a *account.RateLimitError after too many failures.
	Login(ctx context.Context, email, password, clientIP string) (account.Session, error)
	Refresh(ctx context.Context, refreshToken string) (account.Session, error)
	Me(ctx context.Context, userID string) (account.Profile, error)
	UpdateMe(ctx context.Context, userID string, ch account.Changes) (account.User, error)
	// Role is the user's role as stored now (a token's role may be stale).
	Role(ctx context.Context, userID string) (string, error)
}

// accountRoutes registers /auth/* and /users/me routes. Without an account store there
// are none: the routes answer 404 rather than panic.
func (s *Server) accountRoutes(public, authed *gin.RouterGroup) {
	if s.Accounts == nil {
		return
	}
	public.POST("/auth/signup", s.signup)
	public.POST("/auth/login", s.login)
	public.POST("/auth/refresh", s.refresh)
	authed.GET("/users/me", s.getMe)
	authed.PATCH("/users/me", s.patchMe)
	if s.Eraser != nil {
		authed.DELETE("/users/me", s.deleteMe)
	}
}

// deleteMe forgets the caller (erasure.Eraser): their scans, photos, account and feed
// go, and their personal key is destroyed, so the personal fields sealed in their
// events are unreadable for good. Not in the PWA: the body must confirm the password,
// and wrong ones count against the login limits.
func (s *Server) deleteMe(c *gin.Context) {
	var req struct {
		Password any `json:"password"`
	}
	var password string
	// As at login: no upper bound, a long wrong password is a 401 like any other.
	if !s.decodeChecked(c, &req, func(p *problems) { password = p.password("password", req.Password, false, 0) }) {
		return
	}
	cl := claims(c)
	err := s.Eraser.ForgetConfirmed(c.Request.Context(), cl.UserID, password,
		erasure.Who{Meta: meta(c), Role: cl.Role, ClientIP: c.ClientIP()})
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"message": "Account deleted", "userId": cl.UserID})
}

// The JSON shapes below are the PWA's (contract sections 1.4 and 1.5 items 4, 5).

// authUserJSON is AuthResponse.user: null names are "" here (and only here).
type authUserJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Role      string `json:"role"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

type authJSON struct {
	AccessToken  string       `json:"accessToken"`
	RefreshToken string       `json:"refreshToken"`
	User         authUserJSON `json:"user"`
}

func sessionJSON(sess account.Session) authJSON {
	u := sess.User
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return authJSON{AccessToken: sess.AccessToken, RefreshToken: sess.RefreshToken, User: authUserJSON{
		ID: u.ID, Email: u.Email, FirstName: deref(u.FirstName), LastName: deref(u.LastName), Role: u.Role,
		CreatedAt: isoTime(u.CreatedAt), UpdatedAt: isoTime(u.UpdatedAt)}}
}

// userJSON is the user as /users/me shows it: null names stay null.
type userJSON struct {
	ID        string  `json:"id"`
	Email     string  `json:"email"`
	FirstName *string `json:"firstName"`
	LastName  *string `json:"lastName"`
	Role      string  `json:"role"`
	CreatedAt string  `json:"createdAt"`
	UpdatedAt string  `json:"updatedAt"`
}

func userOf(u account.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Role: u.Role,
		CreatedAt: isoTime(u.CreatedAt), UpdatedAt: isoTime(u.UpdatedAt)}
}

// houseCountJSON is a full house (its status and dates are never empty, so none is
// omitted) and its number of scans.
type houseCountJSON struct {
	houseJSON
	Count struct {
		Scans int `json:"scans"`
	} `json:"_count"`
}

type checklistSummaryJSON struct {
	ID        string `json:"id"`
	Scope     string `json:"scope"`
	Name      string `json:"name"`
	Version   int    `json:"version"`
	CreatedAt string `json:"createdAt"`
}

type meJSON struct {
	userJSON
	Houses           []houseCountJSON       `json:"houses"`
	CustomChecklists []checklistSummaryJSON `json:"customChecklists"`
}

// userRequest is the body of a signup and of PATCH /users/me (the original's SignupDto
// and UpdateUserDto, which have the same fields; on PATCH every one is optional).
type userRequest struct {
	Email     any `json:"email"`
	Password  any `json:"password"`
	FirstName any `json:"firstName"`
	LastName  any `json:"lastName"`
}

func (s *Server) signup(c *gin.Context) {
	var req userRequest
	var in account.NewUser
	if !s.decodeChecked(c, &req, func(p *problems) {
		in = account.NewUser{
			Email:     p.email("email", req.Email, false),
			Password:  p.password("password", req.Password, false, account.MaxPasswordLength),
			FirstName: p.text("firstName", req.FirstName, account.MaxNameLength, true),
			LastName:  p.text("lastName", req.LastName, account.MaxNameLength, true),
			ClientIP:  c.ClientIP(),
		}
	}) {
		return
	}
	sess, err := s.Accounts.Signup(c.Request.Context(), in)
	s.writeSession(c, sess, err)
}

type loginRequest struct {
	Email    any `json:"email"`
	Password any `json:"password"`
}

func (s *Server) login(c *gin.Context) {
	var req loginRequest
	var email, password string
	if !s.decodeChecked(c, &req, func(p *problems) {
		email = p.email("email", req.Email, false)
		// No upper bound here: a long wrong password is a 401 like any other.
		password = p.password("password", req.Password, false, 0)
	}) {
		return
	}
	// ClientIP honours X-Forwarded-For only from the proxies the engine trusts.
	sess, err := s.Accounts.Login(c.Request.Context(), email, password, c.ClientIP())
	s.writeSession(c, sess, err)
}

type refreshRequest struct {
	RefreshToken any `json:"refreshToken"`
}

func (s *Server) refresh(c *gin.Context) {
	var req refreshRequest
	var raw string
	if !s.decodeChecked(c, &req, func(p *problems) { raw = p.jwt("refreshToken", req.RefreshToken) }) {
		return
	}
	sess, err := s.Accounts.Refresh(c.Request.Context(), raw)
	s.writeSession(c, sess, err)
}

// decodeChecked decodes the body into req and lets check read it, collecting every
// problem at once as the original's class-validator did. When either fails it has
// answered with the error, and reports false.
func (s *Server) decodeChecked(c *gin.Context, req any, check func(p *problems)) bool {
	if err := decodeStrict(c, req); err != nil {
		s.writeError(c, err)
		return false
	}
	var p problems
	check(&p)
	if err := p.err(); err != nil {
		s.writeError(c, err)
		return false
	}
	return true
}

// writeSession answers signup, login and refresh: 201 with the session, or the error
// (with Retry-After when the store refused for too many attempts: see writeError).
func (s *Server) writeSession(c *gin.Context, sess account.Session, err error) {
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusCreated, sessionJSON(sess))
}

func (s *Server) getMe(c *gin.Context) {
	p, err := s.Accounts.Me(c.Request.Context(), claims(c).UserID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := meJSON{userJSON: userOf(p.User), Houses: make([]houseCountJSON, 0, len(p.Houses)),
		CustomChecklists: make([]checklistSummaryJSON, 0, len(p.Checklists))}
	for _, h := range p.Houses {
		hj := houseCountJSON{houseJSON: houseJSON{ID: h.ID, Address: h.Address, HouseType: h.HouseType, Status: h.Status,
			CreatedAt: isoTime(h.CreatedAt), UpdatedAt: isoTime(h.UpdatedAt)}}
		hj.Count.Scans = h.Scans
		out.Houses = append(out.Houses, hj)
	}
	for _, cl := range p.Checklists {
		out.CustomChecklists = append(out.CustomChecklists, checklistSummaryJSON{ID: cl.ID, Scope: cl.Scope, Name: cl.Name,
			Version: cl.Version, CreatedAt: isoTime(cl.CreatedAt)})
	}
	ok(c, http.StatusOK, out)
}

func (s *Server) patchMe(c *gin.Context) {
	var req userRequest
	var ch account.Changes
	if !s.decodeChecked(c, &req, func(p *problems) {
		if req.Email != nil {
			e := p.email("email", req.Email, true)
			ch.Email = &e
		}
		if req.Password != nil {
			pw := p.password("password", req.Password, true, account.MaxPasswordLength)
			ch.Password = &pw
		}
		ch.FirstName = p.text("firstName", req.FirstName, account.MaxNameLength, false)
		ch.LastName = p.text("lastName", req.LastName, account.MaxNameLength, false)
	}) {
		return
	}
	u, err := s.Accounts.UpdateMe(c.Request.Context(), claims(c).UserID, ch)
	if err == nil { // the access trail keeps every profile change (audit_scope.go)
		err = s.recordAccess(c, trail.ChangeProfile, "user:"+u.ID, u.ID, changedFields(ch))
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	ok(c, http.StatusOK, userOf(u))
}
