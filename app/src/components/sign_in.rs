use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use crate::client::http;
use crate::protocol::{valid_name, SessionInfo, SignIn, MAX_DISPLAY_CHARS, PASSWORD_RULE};

/// Sign in, or create an account (a handle, a display name in any script,
/// and a password that meets the rule stated under it).
///
/// `ready` turns true once the page is hydrated: until then the button is
/// disabled, so the form cannot be submitted natively (which would put the
/// password in a URL).
#[component]
pub fn SignInForm(
    #[prop(into)] ready: Signal<bool>,
    /// Called with the server's answer once signed in.
    on_signed_in: Callback<SessionInfo>,
) -> impl IntoView {
    let creating = RwSignal::new(false);
    let username = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let on_submit = move |event: SubmitEvent| {
        event.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let form = SignIn {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            display_name: if creating.get_untracked() {
                display_name.get_untracked().trim().to_owned()
            } else {
                String::new()
            },
            register: creating.get_untracked(),
        };
        if !valid_name(&form.username) {
            error.set(Some(
                "A username is 1 to 32 letters, digits, “_” or “-”; your display name can be anything.".to_owned(),
            ));
            return;
        }
        if form.password.is_empty() {
            error.set(Some("Enter a password.".to_owned()));
            return;
        }
        error.set(None);
        pending.set(true);
        spawn_local(async move {
            let result = http::sign_in(&form).await;
            pending.try_set(false);
            match result {
                Ok(info) => on_signed_in.run(info),
                Err(failure) => {
                    error.try_set(Some(failure.message));
                }
            }
        });
    };

    let tab = move |create: bool, label: &'static str| {
        view! {
            <button
                type="button"
                role="tab"
                class="tab"
                aria-selected=move || (creating.get() == create).to_string()
                on:click=move |_| {
                    creating.set(create);
                    error.set(None);
                }
            >
                {label}
            </button>
        }
    };
    view! {
        // The create-only parts are hidden by the stylesheet in sign-in
        // mode (one class rather than a `Show` each: the web app's size).
        <section class="card sign-in" class:creating=creating aria-labelledby="sign-in-title">
            <h1 id="sign-in-title">
                {move || if creating.get() { "Create your account" } else { "Sign in" }}
            </h1>
            <div class="tabs" role="tablist" aria-label="Sign in or create an account">
                {tab(false, "Sign in")}
                {tab(true, "Create account")}
            </div>
            <p class="hint sign-in-only">
                "New here? Choose “Create account”, or sign in with a free username: your account is created as you sign in."
            </p>
            <form on:submit=on_submit>
                <div class="field">
                    <label for="username">"Username"</label>
                    <input
                        id="username"
                        name="username"
                        type="text"
                        autocomplete="username"
                        autocapitalize="none"
                        spellcheck="false"
                        maxlength="32"
                        required
                        aria-describedby="username-hint"
                        bind:value=username
                    />
                    <p class="hint create-only" id="username-hint">
                        "Letters, digits, “_” or “-”: used in links and mentions."
                    </p>
                </div>
                <div class="field create-only">
                        <label for="display-name">"Display name"</label>
                        <input
                            id="display-name"
                            name="display-name"
                            type="text"
                            autocomplete="nickname"
                            maxlength=MAX_DISPLAY_CHARS.to_string()
                            placeholder="小明, Zoë Müller, محمد…"
                            aria-describedby="display-hint"
                            bind:value=display_name
                        />
                        <p class="hint" id="display-hint">
                            "What people see, in any language. Optional: your username otherwise."
                        </p>
                </div>
                <div class="field">
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete=move || {
                            if creating.get() { "new-password" } else { "current-password" }
                        }
                        aria-describedby="password-rule"
                        required
                        bind:value=password
                    />
                    <p class="hint create-only" id="password-rule" data-testid="password-rule">
                        {PASSWORD_RULE}
                    </p>
                </div>
                <Show when=move || error.with(Option::is_some)>
                    <p class="error" role="alert">
                        {move || error.get().unwrap_or_default()}
                    </p>
                </Show>
                <button
                    type="submit"
                    class="primary"
                    disabled=move || !ready.get() || pending.get()
                    aria-busy=move || pending.get().then_some("true")
                >
                    {move || if creating.get() { "Create account" } else { "Sign in" }}
                </button>
            </form>
        </section>
    }
}
