//! Every word the UI shows, in one place. An Indonesian translation is a second
//! `Strings` value and a way to pick it (per workspace or per person).

pub struct Strings {
    pub app_name: &'static str,
    pub nav_database: &'static str,
    pub nav_inbox: &'static str,
    pub nav_settings: &'static str,
    pub sign_out: &'static str,
    pub switch_workspace: &'static str,
    pub switch: &'static str,

    pub database_title: &'static str,
    pub search_label: &'static str,
    pub search_placeholder: &'static str,
    pub status_filter_label: &'static str,
    pub all_statuses: &'static str,
    pub apply_filters: &'static str,
    pub clear_filters: &'static str,
    pub col_name: &'static str,
    pub col_phone: &'static str,
    pub col_status: &'static str,
    pub col_source: &'static str,
    pub col_last_activity: &'static str,
    pub col_created: &'static str,
    pub col_actions: &'static str,
    pub never_active: &'static str,
    pub open_in_inbox: &'static str,
    pub no_conversation_yet: &'static str,
    pub details: &'static str,
    pub load_more: &'static str,
    pub loading: &'static str,
    pub edit: &'static str,
    pub save: &'static str,
    pub edit_name_hint: &'static str,
    pub name_input_label: &'static str,
    pub name_not_saved: &'static str,
    pub status_not_saved: &'static str,
    pub no_matches: &'static str,
    pub new_leads_waiting: &'static str,
    pub profile_name_label: &'static str,
    pub unread_label: &'static str,

    pub empty_title: &'static str,
    pub empty_intro: &'static str,
    pub empty_step_webhook: &'static str,
    pub empty_step_secret: &'static str,
    pub empty_step_events: &'static str,
    pub webhook_url_label: &'static str,

    pub inbox_title: &'static str,
    pub inbox_search_placeholder: &'static str,
    pub no_conversations: &'static str,
    pub pick_conversation: &'static str,
    pub back_to_lead: &'static str,
    pub back_to_list: &'static str,
    pub reply_to: &'static str,
    pub you: &'static str,
    pub customer: &'static str,
    pub status_sent: &'static str,
    pub status_delivered: &'static str,
    pub status_read: &'static str,
    pub status_failed: &'static str,
    pub status_pending: &'static str,
    pub open_media: &'static str,
    pub conversation_ended: &'static str,

    pub lead_title: &'static str,
    pub no_number_badge: &'static str,
    pub identities_title: &'static str,
    pub identity_phone: &'static str,
    pub identity_primary: &'static str,
    pub identity_bsuid: &'static str,
    pub identity_parent_bsuid: &'static str,
    pub username_label: &'static str,
    pub merges_title: &'static str,
    pub merged_automatically: &'static str,
    pub merged_by: &'static str,
    pub merge_select_label: &'static str,
    pub merge_selected: &'static str,
    pub merge_title: &'static str,
    pub merge_pick_two: &'static str,
    pub merge_kept: &'static str,
    pub merge_goes: &'static str,
    pub merge_result: &'static str,
    pub merge_pick_status: &'static str,
    pub merge_counts: &'static str,
    pub merge_cannot_undo: &'static str,
    pub merge_confirm: &'static str,
    pub merge_cancel: &'static str,
    pub history: &'static str,
    pub no_history: &'static str,
    pub changed: &'static str,
    pub to: &'static str,
    pub from: &'static str,
    pub empty_value: &'static str,
    pub field_name: &'static str,
    pub field_status: &'static str,
    pub created_label: &'static str,
    pub source_label: &'static str,

    pub sign_in_title: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub sign_in_invalid: &'static str,
    pub sign_in_too_many: &'static str,
    pub sign_in_no_workspace: &'static str,

    pub setup_title: &'static str,
    pub setup_intro: &'static str,
    pub setup_closed: &'static str,
    pub workspace_name: &'static str,
    pub phone_number_id: &'static str,
    pub phone_number_id_hint: &'static str,
    pub region: &'static str,
    pub time_zone: &'static str,
    pub owner_email: &'static str,
    pub owner_password: &'static str,
    pub create_workspace: &'static str,
    pub setup_done_title: &'static str,
    pub setup_done_intro: &'static str,
    pub shown_once: &'static str,
    pub secrets_already_shown: &'static str,
    pub go_to_database: &'static str,

    pub settings_title: &'static str,
    pub workspace_section: &'static str,
    pub kapso_section: &'static str,
    pub webhook_secret: &'static str,
    pub verify_token: &'static str,
    pub api_token: &'static str,
    pub rotate: &'static str,
    pub rotate_intro: &'static str,
    pub members_section: &'static str,
    pub role: &'static str,
    pub joined: &'static str,
    pub remove: &'static str,
    pub owner_only: &'static str,

    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub conversation_not_found: &'static str,
    pub error_title: &'static str,
    pub back_to_database: &'static str,
    pub live_connected: &'static str,
    pub live_reconnecting: &'static str,

    // Invitations and the account (issue 9).
    pub account_nav: &'static str,
    pub account_title: &'static str,
    pub change_password: &'static str,
    pub change_password_intro: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub confirm_password: &'static str,
    pub password_changed: &'static str,
    pub sign_out_everywhere: &'static str,
    pub sign_out_everywhere_intro: &'static str,
    pub signed_out_everywhere: &'static str,
    pub password_reset_done: &'static str,
    pub forgot_password: &'static str,
    pub err_mismatch: &'static str,
    pub err_weak: &'static str,
    pub err_wrong_current: &'static str,
    pub err_busy: &'static str,
    pub invite_title: &'static str,
    pub invite_intro: &'static str,
    pub invite_button: &'static str,
    pub invite_link_for: &'static str,
    pub invite_link_hint: &'static str,
    pub pending_invitations: &'static str,
    pub no_pending_invitations: &'static str,
    pub expires: &'static str,
    pub invited_by: &'static str,
    pub revoke: &'static str,
    pub change_role: &'static str,
    pub invite_page_title: &'static str,
    pub invite_page_intro: &'static str,
    pub invite_new_title: &'static str,
    pub invite_create_button: &'static str,
    pub invite_existing_title: &'static str,
    pub invite_sign_in_button: &'static str,
    pub invite_err_exists: &'static str,
    pub invite_err_wrong: &'static str,
    pub invite_closed: &'static str,
    pub reset_title: &'static str,
    pub reset_intro: &'static str,
    pub reset_button: &'static str,
    pub reset_closed: &'static str,
}

pub const EN: Strings = Strings {
    app_name: "leadline",
    nav_database: "Database",
    nav_inbox: "Inbox",
    nav_settings: "Settings",
    sign_out: "Sign out",
    switch_workspace: "Workspace",
    switch: "Switch",

    database_title: "Database",
    search_label: "Search leads",
    search_placeholder: "Name or phone, e.g. Budi or 0812 3456",
    status_filter_label: "Status",
    all_statuses: "All statuses",
    apply_filters: "Search",
    clear_filters: "Clear",
    col_name: "Name",
    col_phone: "Phone",
    col_status: "Status",
    col_source: "Source",
    col_last_activity: "Last activity",
    col_created: "Created",
    col_actions: "Conversation",
    never_active: "Never",
    open_in_inbox: "Open in Inbox",
    no_conversation_yet: "No WhatsApp conversation yet: this lead has not written to you.",
    details: "Details",
    load_more: "Load more",
    loading: "Loading…",
    edit: "Edit",
    save: "Save",
    edit_name_hint: "Click or press Enter to edit the name",
    name_input_label: "Name",
    name_not_saved: "Name not saved",
    status_not_saved: "Status not saved",
    no_matches: "No leads match this search.",
    new_leads_waiting: "New leads arrived. Reload to see them in this order.",
    profile_name_label: "WhatsApp name",
    unread_label: "unread",

    empty_title: "No leads yet",
    empty_intro: "Leads appear here as soon as customers write to your WhatsApp number. Connect it in Kapso:",
    empty_step_webhook: "In Kapso, add a webhook for your phone number with this URL:",
    empty_step_secret: "Use the webhook secret printed by `leadline workspace create` (or shown in Settings when you rotate it) as the signing secret.",
    empty_step_events: "Subscribe to message and conversation events. The first message creates the first lead.",
    webhook_url_label: "Webhook URL",

    inbox_title: "Inbox",
    inbox_search_placeholder: "Search conversations",
    no_conversations: "No conversations yet.",
    pick_conversation: "Pick a conversation to read it.",
    back_to_lead: "Lead details",
    back_to_list: "All conversations",
    reply_to: "Reply to",
    you: "You",
    customer: "Customer",
    status_sent: "Sent",
    status_delivered: "Delivered",
    status_read: "Read",
    status_failed: "Failed",
    status_pending: "Sending",
    open_media: "Open media",
    conversation_ended: "Conversation ended",

    lead_title: "Lead",
    no_number_badge: "no number shared",
    identities_title: "Reached on",
    identity_phone: "Phone",
    identity_primary: "primary",
    identity_bsuid: "WhatsApp user ID",
    identity_parent_bsuid: "WhatsApp parent user ID",
    username_label: "Username",
    merges_title: "Merged leads",
    merged_automatically: "merged automatically (the same WhatsApp user)",
    merged_by: "merged by",
    merge_select_label: "Select for merging",
    merge_selected: "Merge selected",
    merge_title: "Merge two leads",
    merge_pick_two: "Select exactly two leads in the Database, then choose “Merge selected”.",
    merge_kept: "Stays",
    merge_goes: "Is merged into it",
    merge_result: "After the merge",
    merge_pick_status: "The two leads have different statuses. Keep:",
    merge_counts: "messages and conversations move to the lead that stays",
    merge_cannot_undo: "A merge cannot be undone. The merged lead's old links will open the lead that stays.",
    merge_confirm: "Merge leads",
    merge_cancel: "Cancel",
    history: "History of manual changes",
    no_history: "Nobody has edited this lead by hand yet.",
    changed: "changed",
    to: "to",
    from: "from",
    empty_value: "(empty)",
    field_name: "name",
    field_status: "status",
    created_label: "Created",
    source_label: "Source",

    sign_in_title: "Sign in",
    email: "Email",
    password: "Password",
    sign_in: "Sign in",
    sign_in_invalid: "Email or password is incorrect.",
    sign_in_too_many: "Too many sign-in attempts. Wait 15 minutes and try again.",
    sign_in_no_workspace: "Your account is not a member of any workspace yet. Ask an owner or admin for an invitation link.",

    setup_title: "Set up leadline",
    setup_intro: "Create your workspace and its owner account. This link works once.",
    setup_closed: "This setup link has been used or has expired. Sign in instead.",
    workspace_name: "Business name",
    phone_number_id: "Kapso phone number ID",
    phone_number_id_hint: "Shown in Kapso next to your WhatsApp number.",
    region: "Country for local numbers",
    time_zone: "Time zone",
    owner_email: "Your email",
    owner_password: "Password (at least 10 characters)",
    create_workspace: "Create workspace",
    setup_done_title: "Your workspace is ready",
    setup_done_intro: "Paste these into Kapso's webhook settings for your number:",
    shown_once: "Shown only now. Store them somewhere safe; you can rotate them in Settings.",
    secrets_already_shown: "The secrets were shown once, right after setup. An owner can issue new ones in Settings.",
    go_to_database: "Go to your Database",

    settings_title: "Settings",
    workspace_section: "Workspace",
    kapso_section: "Kapso connection",
    webhook_secret: "Webhook secret",
    verify_token: "Meta verify token",
    api_token: "API token",
    rotate: "Rotate",
    rotate_intro: "Rotating replaces the value at once; update Kapso (or your integration) right after.",
    members_section: "Members",
    role: "Role",
    joined: "Joined",
    remove: "Remove",
    owner_only: "Only owners can rotate secrets.",

    not_found_title: "Page not found",
    not_found_body: "There is nothing at this address.",
    conversation_not_found: "This conversation does not exist in your workspace.",
    error_title: "Something went wrong",
    back_to_database: "Back to the Database",
    live_connected: "Live",
    live_reconnecting: "Reconnecting…",

    account_nav: "Account",
    account_title: "Your account",
    change_password: "Change password",
    change_password_intro: "Your other sessions (other browsers and phones) are signed out; this one stays.",
    current_password: "Current password",
    new_password: "New password (at least 10 characters)",
    confirm_password: "New password again",
    password_changed: "Password changed. Your other sessions were signed out.",
    sign_out_everywhere: "Sign out everywhere",
    sign_out_everywhere_intro: "Ends every session of your account on every device, this one included.",
    signed_out_everywhere: "You were signed out everywhere.",
    password_reset_done: "Your password was reset and every session ended. Sign in with the new password.",
    forgot_password: "Forgot your password? Ask whoever runs leadline for a reset link.",
    err_mismatch: "The two new passwords are not the same.",
    err_weak: "A password needs at least 10 characters (and at most 512).",
    err_wrong_current: "The current password is not right.",
    err_busy: "Too many sign-ins at once. Try again in a moment.",
    invite_title: "Invite someone",
    invite_intro: "leadline makes a one-time link; send it to them yourself (WhatsApp, email). They join with their own password, or with the one they already use for leadline. It works once, for 7 days.",
    invite_button: "Create invitation link",
    invite_link_for: "Invitation link for",
    invite_link_hint: "Shown only now. Send it to them yourself; it works once, until",
    pending_invitations: "Pending invitations",
    no_pending_invitations: "No pending invitations.",
    expires: "Expires",
    invited_by: "Invited by",
    revoke: "Revoke",
    change_role: "Change",
    invite_page_title: "You are invited",
    invite_page_intro: "You are invited to work in this leadline workspace:",
    invite_new_title: "New to leadline? Choose your password",
    invite_create_button: "Create my account and join",
    invite_existing_title: "Already use leadline with this email? Sign in to join",
    invite_sign_in_button: "Sign in and join",
    invite_err_exists: "This email already has a leadline account: sign in below with its password.",
    invite_err_wrong: "That is not the password of this email's account. New to leadline? Choose a password above instead.",
    invite_closed: "This invitation has been used, revoked or has expired. Ask for a new one.",
    reset_title: "Set a new password",
    reset_intro: "Choose a new password for",
    reset_button: "Set new password",
    reset_closed: "This reset link has been used or has expired. Ask whoever runs leadline for a new one.",
};

/// The strings in use.
pub fn t() -> &'static Strings {
    &EN
}

/// `1,204 leads`.
pub fn lead_count(n: i64) -> String {
    format!("{} {}", thousands(n), if n == 1 { "lead" } else { "leads" })
}

pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// "just now", "3 min ago", "2 h ago", "yesterday", "5 days ago", "3 months ago".
pub fn relative_time(then_ms: i64, now_ms: i64) -> String {
    let seconds = (now_ms - then_ms).max(0) / 1000;
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    match () {
        _ if seconds < 45 => "just now".to_string(),
        _ if minutes < 60 => format!("{} min ago", minutes.max(1)),
        _ if hours < 24 => format!("{hours} h ago"),
        _ if days == 1 => "yesterday".to_string(),
        _ if days < 31 => format!("{days} days ago"),
        _ if days < 365 => format!("{} months ago", (days / 30).max(1)),
        _ => format!("{} years ago", days / 365),
    }
}

pub fn status_label(status: crate::model::LeadStatus) -> &'static str {
    use crate::model::LeadStatus::*;
    match status {
        New => "New",
        Hot => "Hot",
        Warm => "Warm",
        Cold => "Cold",
        Client => "Client",
        Lost => "Lost",
    }
}

pub fn source_label(source: crate::model::LeadSource) -> &'static str {
    use crate::model::LeadSource::*;
    match source {
        Whatsapp => "WhatsApp",
        Manual => "Manual",
        Import => "Import",
    }
}

pub fn role_label(role: crate::model::Role) -> &'static str {
    use crate::model::Role::*;
    match role {
        Owner => "Owner",
        Admin => "Admin",
        Agent => "Agent",
    }
}

/// Words of the shared contact cards (Inbox) and the Webhook health panel (Settings).
pub struct DeliveryStrings {
    pub shared_contact: &'static str,
    pub add_as_lead: &'static str,
    pub open_lead: &'static str,
    pub invalid_number: &'static str,
    pub webhook_health: &'static str,
    pub webhook_health_intro: &'static str,
    pub webhook_healthy: &'static str,
    pub health_kind: &'static str,
    pub health_reason: &'static str,
    pub health_count: &'static str,
    pub health_last_seen: &'static str,
    pub kind_error_notice: &'static str,
    pub kind_refused: &'static str,
}

const DELIVERY_EN: DeliveryStrings = DeliveryStrings {
    shared_contact: "Shared contact",
    add_as_lead: "Add as lead",
    open_lead: "Open lead",
    invalid_number: "not a valid number",
    webhook_health: "Webhook health",
    webhook_health_intro: "Problems WhatsApp reported (rate limits, failed sends) and deliveries leadline refused, \
                           newest first. Each line counts repeats.",
    webhook_healthy: "No error notices or refused deliveries. Everything Kapso sent was accepted.",
    health_kind: "Kind",
    health_reason: "Code and reason",
    health_count: "Count",
    health_last_seen: "Last seen",
    kind_error_notice: "WhatsApp error",
    kind_refused: "Refused delivery",
};

pub fn td() -> &'static DeliveryStrings {
    &DELIVERY_EN
}

/// Words of replying: the composer, the 24-hour window, templates, needs reply, Kapso settings.
pub struct ReplyStrings {
    pub reply_label: &'static str,
    pub composer_label: &'static str,
    pub reply_placeholder: &'static str,
    pub send: &'static str,
    pub sending_hint: &'static str,
    pub window_closed: &'static str,
    pub window_never: &'static str,
    pub not_set_up: &'static str,
    pub not_set_up_owner: &'static str,
    pub templates_not_set_up: &'static str,
    pub template_label: &'static str,
    pub template_value: &'static str,
    pub send_template: &'static str,
    pub no_templates: &'static str,
    pub status_queued: &'static str,
    pub status_unknown: &'static str,
    pub retry: &'static str,
    pub nav_needs_reply: &'static str,
    pub needs_reply_title: &'static str,
    pub needs_reply_empty: &'static str,
    pub waiting: &'static str,
    pub kapso_title: &'static str,
    pub kapso_intro: &'static str,
    pub kapso_key: &'static str,
    pub kapso_key_saved: &'static str,
    pub kapso_key_hint: &'static str,
    pub kapso_waba: &'static str,
    pub kapso_remove_key: &'static str,
    pub kapso_save: &'static str,
    pub kapso_saved: &'static str,
    pub kapso_invalid: &'static str,
}

const REPLY_EN: ReplyStrings = ReplyStrings {
    reply_label: "Reply",
    composer_label: "Answer the customer",
    reply_placeholder: "Write a reply…",
    send: "Send",
    sending_hint: "Enter sends, Shift+Enter starts a new line",
    window_closed: "WhatsApp's 24-hour window is closed: the customer's last message is more than 24 hours old, \
                    so free text cannot be sent. Send an approved template instead; the window opens again when \
                    the customer answers.",
    window_never: "This customer has not written yet: WhatsApp only allows approved templates.",
    not_set_up: "Replies are not set up yet: an owner adds the Kapso API key in Settings.",
    not_set_up_owner: "Add your Kapso API key in Settings to answer from here.",
    templates_not_set_up: "To send templates, an owner adds the WhatsApp Business Account id in Settings.",
    template_label: "Template",
    template_value: "Value",
    send_template: "Send template",
    no_templates: "Kapso lists no approved text templates for this account.",
    status_queued: "Queued",
    status_unknown: "Unknown — check WhatsApp and resend",
    retry: "Retry",
    nav_needs_reply: "Needs reply",
    needs_reply_title: "Needs reply",
    needs_reply_empty: "Nobody is waiting for an answer.",
    waiting: "Waiting",
    kapso_title: "Replies through Kapso",
    kapso_intro: "Sales staff answer from the Inbox; leadline sends through Kapso's API with this key.",
    kapso_key: "Kapso API key",
    kapso_key_saved: "Saved key",
    kapso_key_hint: "Leave empty to keep the saved key.",
    kapso_waba: "WhatsApp Business Account id (for templates)",
    kapso_remove_key: "Remove the saved key",
    kapso_save: "Save",
    kapso_saved: "Saved.",
    kapso_invalid: "Not saved: the key is up to 512 visible characters and the account id is a number.",
};

pub fn tr() -> &'static ReplyStrings {
    &REPLY_EN
}

/// "closes in 3 h 12 min", "closes in 4 min", "closed 2 h ago".
pub fn window_countdown(closes_ms: i64, now_ms: i64) -> String {
    let left = (closes_ms - now_ms) / 60_000;
    if closes_ms <= now_ms {
        return format!("Window closed {}", relative_time(closes_ms, now_ms));
    }
    let (hours, minutes) = (left / 60, left % 60);
    match hours {
        0 => format!("Window closes in {} min", minutes.max(1)),
        _ => format!("Window closes in {hours} h {minutes} min"),
    }
}

/// "2 h 5 min", "3 days": how long someone has waited.
pub fn waited(since_ms: i64, now_ms: i64) -> String {
    let minutes = (now_ms - since_ms).max(0) / 60_000;
    match minutes {
        0 => "just now".to_string(),
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_and_waiting_read_naturally() {
        let now = 1_000_000_000_000;
        assert_eq!(window_countdown(now + (3 * 60 + 12) * 60_000 + 5, now), "Window closes in 3 h 12 min");
        assert_eq!(window_countdown(now + 30_000, now), "Window closes in 1 min");
        assert_eq!(window_countdown(now - 2 * 3_600_000, now), "Window closed 2 h ago");
        assert_eq!(waited(now - 125 * 60_000, now), "2 h 5 min");
        assert_eq!(waited(now - 3 * 24 * 3_600_000, now), "3 days");
    }

    #[test]
    fn counts_and_times_read_naturally() {
        assert_eq!(lead_count(1), "1 lead");
        assert_eq!(lead_count(1204), "1,204 leads");
        assert_eq!(thousands(100_000), "100,000");
        let now = 1_000_000_000_000;
        assert_eq!(relative_time(now - 10_000, now), "just now");
        assert_eq!(relative_time(now - 3 * 60_000, now), "3 min ago");
        assert_eq!(relative_time(now - 5 * 3_600_000, now), "5 h ago");
        assert_eq!(relative_time(now - 30 * 3_600_000, now), "yesterday");
        assert_eq!(relative_time(now + 5_000, now), "just now");
    }
}
