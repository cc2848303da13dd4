use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};

use crate::client::http;
use crate::protocol::{valid_name, SessionInfo, SignIn};

/// Sign in, or register by signing in with a new name.
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
    let username = RwSignal::new(String::new());
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
        };
        if !valid_name(&form.username) {
            error.set(Some(
                "A username is 1 to 32 letters, digits, “_” or “-”.".to_owned(),
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

    view! {
        <section class="card sign-in" aria-labelledby="sign-in-title">
            <h1 id="sign-in-title">"Sign in"</h1>
            <p class="hint">
                "New here? Choose a username and password and your account is created as you sign in."
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
                        bind:value=username
                    />
                </div>
                <div class="field">
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                        bind:value=password
                    />
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
                    "Sign in"
                </button>
            </form>
        </section>
    }
}
