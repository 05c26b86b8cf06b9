package studio

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Names of the access token and CSRF token on the wire.
const (
	tokenCookie = "sentitune_token"
	tokenQuery  = "token"
	csrfHeader  = "X-CSRF-Token"
)

// newSecret is 128 random bits in hex (the CSRF token).
func newSecret() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand panics itself where it cannot read)
	return hex.EncodeToString(b)
}

// isLoopbackHost reports whether a Host header names this machine (localhost, 127.0.0.0/8, ::1):
// anything else is a browser sent here by DNS rebinding or from another machine.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guard wraps the app with studio's access rules: a Host that is not loopback needs --token
// (as ?token= once, then its cookie), and state-changing requests need the page's CSRF token
// and, when the browser names one, an Origin of this same host.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			if s.cfg.Token == "" {
				http.Error(w, "studio: refused a request for host "+r.Host+": without --token studio answers only localhost", http.StatusForbidden)
				return
			}
			if !s.hasToken(w, r) {
				http.Error(w, "studio: this studio needs its token (open the address printed at start, with ?token=)", http.StatusUnauthorized)
				return
			}
		} else if s.cfg.Token != "" && !s.hasToken(w, r) {
			http.Error(w, "studio: this studio needs its token (open the address printed at start, with ?token=)", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameSecret(r.Header.Get(csrfHeader), s.csrf) {
				http.Error(w, "studio: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
				return
			}
			if o := r.Header.Get("Origin"); o != "" {
				if u, err := url.Parse(o); err != nil || u.Host != r.Host {
					http.Error(w, "studio: request from another site ("+o+") refused", http.StatusForbidden)
					return
				}
			}
		}
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// hasToken checks the access token from the query (then remembered in a cookie), the cookie, or
// an Authorization: Bearer header.
func (s *Server) hasToken(w http.ResponseWriter, r *http.Request) bool {
	if q := r.URL.Query().Get(tokenQuery); q != "" && sameSecret(q, s.cfg.Token) {
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && sameSecret(c.Value, s.cfg.Token) {
		return true
	}
	return sameSecret(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), s.cfg.Token)
}

func sameSecret(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
