package http

import (
	"errors"
	"mime"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/application"
	"github.com/taskflow/taskflow/domain"
	"github.com/taskflow/taskflow/ports"
)

func (s *Server) createOrganization(c *fiber.Ctx) error {
	var req orgCreateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	out, err := s.orgs.Create(c.UserContext(), req.Name)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store") // carries a secret code
	return c.Status(fiber.StatusCreated).JSON(orgCreatedResponse{
		ID: int64(out.Org.ID), Name: out.Org.Name, CreatedAt: out.Org.CreatedAt.UTC(),
		AdminInviteCode: out.Invite.Code, AdminInviteExpiresAt: out.Invite.Invite.ExpiresAt.UTC(),
	})
}

func (s *Server) signup(c *fiber.Ctx) error {
	var req signupRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.limit.byEmail(c, "signup", req.Email); err != nil {
		return err
	}
	in := application.SignUpInput{Email: req.Email, Password: req.Password, InviteCode: req.InviteCode}
	if req.OrganizationID != nil {
		org := domain.OrgID(*req.OrganizationID)
		in.OrgID = &org
	}
	if req.Role != nil {
		role := domain.Role(*req.Role)
		in.Role = &role
	}
	u, err := s.auth.SignUp(c.UserContext(), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(toUser(u))
}

// oauthFormFields are the fields of the OAuth2 password grant form that
// the docs page's Authorize button sends; only username and password are
// used.
var oauthFormFields = map[string]bool{"username": true, "password": true, "grant_type": true, "scope": true, "client_id": true, "client_secret": true}

func (s *Server) login(c *fiber.Ctx) error {
	var req loginRequest
	mt, _, _ := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	if mt == fiber.MIMEApplicationForm {
		form, err := url.ParseQuery(string(c.Body()))
		if err != nil {
			return &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_form", Message: "the form body could not be parsed"}
		}
		for k := range form {
			if !oauthFormFields[k] {
				return domain.Invalid(domain.FieldError{Field: k, Message: "is not a field this request accepts"})
			}
		}
		req.Email, req.Password = form.Get("username"), form.Get("password")
		var fields []domain.FieldError
		if req.Email == "" {
			fields = append(fields, domain.FieldError{Field: "username", Message: "is required"})
		}
		if req.Password == "" {
			fields = append(fields, domain.FieldError{Field: "password", Message: "is required"})
		}
		if len(fields) > 0 {
			return domain.Invalid(fields...)
		}
	} else if err := decodeJSON(c, &req); err != nil {
		return err
	}
	// Only failures count against the email, so that someone else's wrong
	// passwords do not lock its owner out; byIP has counted the request.
	if err := s.limit.beforeLogin(c, req.Email); err != nil {
		return err
	}
	tok, err := s.auth.Login(c.UserContext(), req.Email, req.Password)
	if err != nil {
		if errors.Is(err, domain.ErrBadCredentials) {
			s.limit.loginFailed(c, req.Email)
		}
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(toToken(tok))
}

func (s *Server) refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	tok, err := s.auth.Refresh(c.UserContext(), req.RefreshToken)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(toToken(tok))
}

// logout takes an optional body: the refresh token to end as well.
func (s *Server) logout(c *fiber.Ctx) error {
	var req logoutRequest
	if len(c.Body()) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	if err := s.auth.Logout(c.UserContext(), actorOf(c), req.RefreshToken); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) changePassword(c *fiber.Ctx) error {
	var req passwordChangeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.auth.ChangePassword(c.UserContext(), actorOf(c), req.CurrentPassword, req.NewPassword); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) me(c *fiber.Ctx) error {
	u, err := s.auth.Me(c.UserContext(), actorOf(c))
	if err != nil {
		return err
	}
	return c.JSON(toUser(u))
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	users, err := s.orgs.Members(c.UserContext(), actorOf(c))
	if err != nil {
		return err
	}
	out := make([]userResponse, len(users))
	for i := range users {
		out[i] = toUser(&users[i])
	}
	return c.JSON(out)
}

func (s *Server) setRole(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req roleUpdateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	u, err := s.orgs.SetRole(c.UserContext(), actorOf(c), domain.UserID(id), domain.Role(req.Role))
	if err != nil {
		return err
	}
	return c.JSON(toUser(u))
}

func (s *Server) removeUser(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.orgs.RemoveMember(c.UserContext(), actorOf(c), domain.UserID(id)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) createInvite(c *fiber.Ctx) error {
	var req inviteCreateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	inv, err := s.orgs.CreateInvite(c.UserContext(), actorOf(c), domain.Role(req.Role), req.Email,
		receiptFor(c, inviteCreated))
	if err != nil {
		return err
	}
	return sendStored(c, inviteCreated(inv))
}

// inviteCreated is the answer to POST /invites: the code, shown once, is
// stored with the key, for a retry by the same caller.
func inviteCreated(inv *application.IssuedInvite) ports.StoredResponse {
	out := inviteResponse{Code: inv.Code, Role: string(inv.Invite.Role), ExpiresAt: inv.Invite.ExpiresAt.UTC()}
	if inv.Invite.Email != "" {
		out.Email = &inv.Invite.Email
	}
	return created(out)
}

func (s *Server) listInvites(c *fiber.Ctx) error {
	invs, err := s.orgs.Invites(c.UserContext(), actorOf(c))
	if err != nil {
		return err
	}
	out := make([]inviteListItem, len(invs))
	for i := range invs {
		out[i] = toInviteListItem(&invs[i])
	}
	return c.JSON(out)
}

func (s *Server) revokeInvite(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.orgs.RevokeInvite(c.UserContext(), actorOf(c), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
