package httpapi

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/scanledger/scanledger/domain"
	"github.com/scanledger/scanledger/domain/auth"
	"github.com/scanledger/scanledger/projections/analytics"
)

// Analytics answers the analyst routes from the analytics read model
// (projections/analytics over the read database).
type Analytics interface {
	Outcomes(ctx context.Context, f analytics.Filter) ([]analytics.Outcome, error)
	Costs(ctx context.Context, f analytics.Filter, by string) ([]analytics.Cost, error)
	Durations(ctx context.Context, f analytics.Filter) ([]analytics.Duration, error)
	Failures(ctx context.Context, f analytics.Filter) ([]analytics.Failure, error)
	ChecklistItems(ctx context.Context, f analytics.Filter) ([]analytics.ItemRate, error)
}

// analyticsRoutes registers /analytics/*, for analysts only. Without a source there are
// none: the routes answer 404 rather than panic.
func (s *Server) analyticsRoutes(authed *gin.RouterGroup) {
	if s.Analytics == nil {
		return
	}
	g := authed.Group("/analytics", s.requireAnalyst)
	g.GET("/outcomes", analyticsRoute(s, "outcomes", func(ctx context.Context, c *gin.Context, f analytics.Filter) ([]analytics.Outcome, error) {
		return s.Analytics.Outcomes(ctx, f)
	}))
	g.GET("/costs", analyticsRoute(s, "costs", func(ctx context.Context, c *gin.Context, f analytics.Filter) ([]analytics.Cost, error) {
		by := c.DefaultQuery("by", analytics.ByAgent)
		if by != analytics.ByAgent && by != analytics.ByModel && by != analytics.ByScan {
			return nil, domain.Errorf(domain.EINVALID, "by must be agent, model or scan")
		}
		return s.Analytics.Costs(ctx, f, by)
	}))
	g.GET("/durations", analyticsRoute(s, "durations", func(ctx context.Context, c *gin.Context, f analytics.Filter) ([]analytics.Duration, error) {
		return s.Analytics.Durations(ctx, f)
	}))
	g.GET("/failures", analyticsRoute(s, "failures", func(ctx context.Context, c *gin.Context, f analytics.Filter) ([]analytics.Failure, error) {
		return s.Analytics.Failures(ctx, f)
	}))
	g.GET("/checklist-items", analyticsRoute(s, "checklist-items", func(ctx context.Context, c *gin.Context, f analytics.Filter) ([]analytics.ItemRate, error) {
		return s.Analytics.ChecklistItems(ctx, f)
	}))
}

// requireAnalyst lets only analysts through. As for auditors, the role stored now
// decides: the token's role is only a hint.
func (s *Server) requireAnalyst(c *gin.Context) {
	cl := claims(c)
	allowed := cl.Role == auth.RoleAnalyst
	if allowed && s.Accounts != nil {
		role, err := s.Accounts.Role(c.Request.Context(), cl.UserID)
		if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
			s.writeError(c, err)
			c.Abort()
			return
		}
		allowed = err == nil && role == auth.RoleAnalyst
	}
	if !allowed {
		s.writeError(c, domain.Errorf(domain.EFORBIDDEN, "Only analysts can read analytics"))
		c.Abort()
		return
	}
	c.Next()
}

// analyticsRoute parses the common filters and the format, runs query and writes its
// rows as {"data": [...]} or, with ?format=csv, as CSV named name.csv.
func analyticsRoute[T any](s *Server, name string, query func(context.Context, *gin.Context, analytics.Filter) ([]T, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, err := analyticsFilter(c)
		if err != nil {
			s.writeError(c, err)
			return
		}
		format := c.DefaultQuery("format", "json")
		if format != "json" && format != "csv" {
			s.writeError(c, domain.Errorf(domain.EINVALID, "format must be json or csv"))
			return
		}
		rows, err := query(c.Request.Context(), c, f)
		if err != nil {
			s.writeError(c, err)
			return
		}
		if format == "json" {
			ok(c, http.StatusOK, rows)
			return
		}
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		c.Status(http.StatusOK)
		if err := writeCSV(c.Writer, rows); err != nil {
			s.log.Error("write csv", "path", c.Request.URL.Path, "err", err)
		}
	}
}

// analyticsFilter reads from and to (RFC 3339 instants or UTC dates; from inclusive,
// to exclusive) and houseType.
func analyticsFilter(c *gin.Context) (analytics.Filter, error) {
	var f analytics.Filter
	var err error
	if f.From, err = queryTime(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, domain.Errorf(domain.EINVALID, "from must be before to")
	}
	f.HouseType = strings.TrimSpace(c.Query("houseType"))
	return f, nil
}

func queryTime(c *gin.Context, key string) (time.Time, error) {
	v := strings.TrimSpace(c.Query(key))
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, domain.Errorf(domain.EINVALID, "%s must be a date (2026-03-02) or an RFC 3339 time", key)
}

// writeCSV writes rows of a struct type with one column per JSON field, named as in
// the JSON answer, so both formats read alike.
func writeCSV[T any](w http.ResponseWriter, rows []T) error {
	cw := csv.NewWriter(w)
	typ := reflect.TypeFor[T]()
	var header []string
	var fields []int
	for i := 0; i < typ.NumField(); i++ {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		header = append(header, name)
		fields = append(fields, i)
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	rec := make([]string, len(fields))
	for _, row := range rows {
		v := reflect.ValueOf(row)
		for j, i := range fields {
			rec[j] = csvValue(v.Field(i))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int64, reflect.Int32:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	}
	return fmt.Sprint(v.Interface())
}
