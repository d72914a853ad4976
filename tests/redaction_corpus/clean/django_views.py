"""Account views: sign-in, sign-out, password reset and API tokens."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_POST

from .forms import PasswordChangeForm, SignInForm
from .models import ApiToken, User

RESET_SUBJECT = "Reset your password"
MIN_PASSWORD_LENGTH = 12


def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "accounts/sign_in.html", {"form": SignInForm()})
    email = request.POST.get("email", "").strip().lower()
    password = request.POST["password"]
    if not password:
        messages.error(request, "Please enter your password.")
        return redirect("accounts:sign-in")
    user = authenticate(request, username=email, password=password)
    if user is None:
        messages.error(request, "That email and password do not match.")
        return redirect("accounts:sign-in")
    login(request, user)
    return redirect(request.GET.get("next") or settings.LOGIN_REDIRECT_URL)


@login_required
def change_password(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        new_password = form.cleaned_data["new_password1"]
        if len(new_password) < MIN_PASSWORD_LENGTH:
            form.add_error("new_password1", f"Use at least {MIN_PASSWORD_LENGTH} characters.")
        else:
            request.user.set_password(new_password)
            request.user.save(update_fields=["password"])
            update_session_auth_hash(request, request.user)
            messages.success(request, "Your password was changed.")
            return redirect("accounts:profile")
    return render(request, "accounts/change_password.html", {"form": form})


@require_POST
def request_reset(request: HttpRequest) -> HttpResponse:
    user = User.objects.filter(email__iexact=request.POST.get("email", "")).first()
    if user is not None:
        token = default_token_generator.make_token(user)
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        link = request.build_absolute_uri(f"/accounts/reset/{uid}/{token}/")
        send_mail(RESET_SUBJECT, f"Follow this link to choose a new password: {link}",
                  settings.DEFAULT_FROM_EMAIL, [user.email])
    # Same answer either way, so the form cannot be used to find accounts.
    messages.info(request, "If that address has an account, a reset link is on its way.")
    return redirect("accounts:sign-in")


@login_required
@require_POST
def create_api_token(request: HttpRequest) -> JsonResponse:
    token, secret = ApiToken.issue(owner=request.user, name=request.POST.get("name", "default"))
    # The secret is shown once; only its hash is stored (ApiToken.secret_hash).
    return JsonResponse({"id": token.pk, "name": token.name, "token": secret}, status=201)


@login_required
@require_POST
def revoke_api_token(request: HttpRequest, token_id: int) -> JsonResponse:
    deleted, _ = ApiToken.objects.filter(owner=request.user, pk=token_id).delete()
    return JsonResponse({"revoked": bool(deleted)})


def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("home")
