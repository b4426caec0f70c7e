"""Reading the image page's link forms: what was typed, turned into values for uploads.links.

The forms only parse (the templates draw the fields); the rules on expiry, max views and the
password live in uploads/links.py, which the API uses too.
"""

from __future__ import annotations

from django import forms

from uploads.links import DEFAULT_EXPIRY_SECONDS, EXPIRY_CHOICES, Expiry

CHOSEN_MOMENT = "at"  # the expiry choice "at a date and time I choose"
KEEP_EXPIRY = ""  # the edit form's choice "keep the current expiry"
# <input type="datetime-local"> sends minutes, or seconds when the browser's step allows them.
LOCAL_TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


def expiry_choices(*, keep: bool) -> list[tuple[str, str]]:
    """(value, label) for the expiry radios; `keep` adds "keep it as it is" (the edit form)."""
    choices = [(KEEP_EXPIRY, "Keep as it is")] if keep else []
    choices += [(str(seconds), f"{label} from now") for seconds, label in EXPIRY_CHOICES]
    choices.append((CHOSEN_MOMENT, "At a date and time I choose"))
    return choices


class _ExpiryForm(forms.Form):
    keep_allowed = False

    expiry = forms.ChoiceField(required=False)
    # Read in the portal's time zone (TIME_ZONE): Django makes naive input aware in it.
    expires_at = forms.DateTimeField(required=False, input_formats=LOCAL_TIME_FORMATS)
    max_views = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expiry"].choices = expiry_choices(keep=self.keep_allowed)
        self.fields["expiry"].error_messages["invalid_choice"] = "Choose one of the expiry options."
        self.fields["expires_at"].error_messages["invalid"] = (
            "Enter the expiry date and time, like 2026-12-24 18:00."
        )
        self.fields["max_views"].error_messages["invalid"] = (
            "Max views must be a whole number, or empty for no limit."
        )
        self.fields["max_views"].error_messages["min_value"] = (
            "Max views must be 1 or more, or empty for no limit."
        )

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("expiry") == CHOSEN_MOMENT
        if chosen and not cleaned.get("expires_at") and "expires_at" not in self.errors:
            self.add_error("expires_at", "Choose the date and time the link should expire.")
        if not chosen and cleaned.get("expires_at") and "expiry" not in self.errors:
            # Never drop what someone typed in silence: ask which of the two they meant.
            self.add_error(
                "expiry",
                "You typed a date and time but chose another expiry: choose “At a date and "
                "time I choose”, or clear the date.",
            )
        return cleaned

    def expiry_value(self) -> Expiry | None:
        """The chosen expiry; None for "keep as it is"."""
        choice = self.cleaned_data.get("expiry", KEEP_EXPIRY)
        if choice == CHOSEN_MOMENT:
            return Expiry(moment=self.cleaned_data["expires_at"])
        if choice == KEEP_EXPIRY:
            return None if self.keep_allowed else Expiry(seconds=DEFAULT_EXPIRY_SECONDS)
        return Expiry(seconds=int(choice))

    def problems(self) -> list[str]:
        """Every error as a sentence a person can act on, field by field."""
        return [message for errors in self.errors.values() for message in errors]


class LinkCreateForm(_ExpiryForm):
    """A new link: expiry (default 1 day), optional max views and password, inline or download."""

    password = forms.CharField(required=False, strip=False)
    download = forms.BooleanField(required=False)


class LinkEditForm(_ExpiryForm):
    """A link's new expiry (or the same one) and max views (empty: no limit)."""

    keep_allowed = True
