"""The scenarios of scripts/mta_samples.py and the truth each one must be classified as.

Each scenario is one message from `bounces+<mta>-<tag>@example.org` to the recipients listed;
the scripted SMTP server answers at the stated SMTP stage with the stated reply.  The reply
texts are the ones the providers publish in their SMTP error references (Gmail: Google
Workspace "SMTP error reference"; Microsoft 365 / Outlook.com: "Email non-delivery reports and
SMTP errors in Exchange Online" and the Outlook.com postmaster pages; Yahoo: "SMTP error codes"
of the Yahoo Sender Hub; iCloud: Apple's "Postmaster information for iCloud Mail"; Proofpoint
and Mimecast: their published SMTP error code lists), WRITTEN FROM MEMORY of those pages (no
page was fetched): the wording is close to what the providers send, not a byte copy, and short
phrases of that kind are quoted for interoperability testing.

The truth was written from the standards and the vendors' meanings, before any classifier was
run on the bounces (see tests/samples/mta/real/README.md):
- severity: `hard` only for a failure about the recipient's address or domain (RFC 3463 X.1.x
  address status at RCPT: bad mailbox, bad domain, moved; RFC 7505 null MX; sysexits
  EX_NOUSER/EX_NOHOST from a local delivery program); `soft` for everything else that failed,
  and always for a refusal of OUR side (the connection, HELO, MAIL FROM, reputation,
  authentication, content, size, rate, policy), whatever its text; `none` for a delay warning
  and a success notice.
- reasons: the acceptable reasons in Sisimai's vocabulary (the project's); two when the
  standard boundary allows both readings (e.g. a 4xx refusal that expired in the queue is
  `expired`, or the refusal's own reason).
- stage: the SMTP stage of the failure (connect, helo, mail, rcpt, data, end-of-data), or
  `unknown` for failures that happen outside an SMTP dialogue (DNS, local delivery).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCENARIOS", "Recipient", "Scenario"]

HARD, SOFT = "hard", "soft"
CONNECT, HELO, MAIL, RCPT, DATA, EOD = "connect", "helo", "mail", "rcpt", "data", "end-of-data"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recipient:
    """One recipient of a scenario: what the server answers at RCPT (None: 250) and the truth
    of its final failure (`ok` recipients are accepted and get no failure)."""

    local: str
    domain: str
    rcpt_reply: str | None
    severity: str  # hard | soft | ok
    reasons: tuple[str, ...]
    stage: str


@dataclass(frozen=True)
class Scenario:
    tag: str
    stage: str  # where the server refuses (rcpt: per recipient)
    reply: str  # the reply, lines joined by "\n" ("" for rcpt scenarios, and local/DNS ones)
    recipients: tuple[Recipient, ...]
    temporary: bool  # 4xx: retried until the queue lifetime expires (a delay warning first)
    basis: str  # why the truth is what it is (standard, vendor text)
    route: str = "smtp"  # smtp | session (own server address) | dns | pipe:<code> | local


def _one(  # noqa: PLR0917 - a table row: every column is a field of the scenario
    tag: str,
    domain: str,
    stage: str,
    reply: str,
    severity: str,
    reasons: tuple[str, ...],
    basis: str,
) -> Scenario:
    temporary = reply[:1] == "4"
    rcpt = reply if stage == RCPT else None
    route = "smtp" if stage in (RCPT, DATA, EOD) else "session"
    final = SOFT if temporary else severity
    if temporary and "expired" not in reasons:
        reasons = ("expired", *reasons)
    recipient = Recipient(tag, domain, rcpt, final, reasons, stage)
    return Scenario(
        tag, stage, "" if stage == RCPT else reply, (recipient,), temporary, basis, route
    )


UU = ("userunknown",)
BL = ("blocked",)
_G = "Gmail SMTP error reference"
_M = "Microsoft 365 / Exchange Online NDR reference"
_O = "Outlook.com postmaster"
_Y = "Yahoo Sender Hub SMTP error codes"
_A = "Apple iCloud postmaster"
_P = "Proofpoint error codes"
_C = "Mimecast SMTP error codes"
_R = "RFC 5321 reply text"

# fmt: off
_ROWS: list[Scenario] = [
    # --- Gmail ---
    _one("gm-nosuchuser", "gmail.com", RCPT,
         "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
         "550-5.1.1 double-checking the recipient's email address for typos or\n"
         "550-5.1.1 unnecessary spaces. For more information, go to\n"
         "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser x-gsmtp",
         HARD, UU, f"{_G}: 5.1.1 no such user; RFC 3463 X.1.1 bad destination mailbox"),
    _one("gm-notfound", "gmail.com", RCPT,
         "550 5.1.1 The email account that you tried to reach does not exist or couldn't be"
         " found. https://support.google.com/mail/?p=NoSuchUser",
         HARD, UU, f"{_G}: address couldn't be found at RCPT"),
    _one("gm-disabled", "gmail.com", RCPT,
         "550-5.2.1 The email account that you tried to reach is disabled. Learn more at\n"
         "550 5.2.1  https://support.google.com/mail/?p=DisabledUser x-gsmtp",
         SOFT, ("suspend",), f"{_G}: 5.2.1 account disabled (mailbox disabled, RFC 3463 X.2.1)"),
    _one("gm-overquota", "gmail.com", RCPT,
         "552-5.2.2 The email account that you tried to reach is over quota. Please direct\n"
         "552 5.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaPerm x-gsmtp",
         SOFT, ("mailboxfull",), f"{_G}: 5.2.2 over quota"),
    _one("gm-overquota-tmp", "gmail.com", RCPT,
         "452-4.2.2 The email account that you tried to reach is over quota. Please direct\n"
         "452 4.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaTemp x-gsmtp",
         SOFT, ("mailboxfull",), f"{_G}: 4.2.2 over quota (temporary)"),
    _one("gm-rate-user", "gmail.com", RCPT,
         "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\n"
         "450-4.2.1 prevents additional messages from being delivered. Please resend your\n"
         "450 4.2.1 message at a later time. https://support.google.com/mail/?p=ReceivingRate",
         SOFT, ("speeding", "ratelimited"), f"{_G}: 4.2.1 receiving rate of the recipient"),
    _one("gm-nodomain", "gmail.com", RCPT,
         "553-5.1.2 We weren't able to find the recipient domain. Please check for any\n"
         "553 5.1.2 spelling errors, and make sure you didn't enter any spaces. x-gsmtp",
         HARD, ("hostunknown",), f"{_G}: 5.1.2 recipient domain not found; RFC 3463 X.1.2"),
    _one("gm-policy-rcpt", "gmail.com", RCPT,
         "550-5.7.1 The user or domain that you are sending to (or from) has a policy that\n"
         "550 5.7.1 prohibited the mail that you sent. x-gsmtp",
         SOFT, ("policyviolation", "blocked", "rejected"),
         f"{_G}: 5.7.1 policy (sender or receiver)"),
    _one("gm-unauth", "gmail.com", EOD,
         "550-5.7.26 This mail has been blocked because the sender is unauthenticated.\n"
         "550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.\n"
         "550 5.7.26 https://support.google.com/mail/answer/81126#authentication x-gsmtp",
         SOFT, ("authfailure",), f"{_G}: 5.7.26 unauthenticated sender (RFC 7372 5.7.26)"),
    _one("gm-dmarc", "gmail.com", EOD,
         "550-5.7.26 Unauthenticated email from example.org is not accepted due to domain's\n"
         "550 5.7.26 DMARC policy. https://support.google.com/mail/answer/2451690 x-gsmtp",
         SOFT, ("authfailure",), f"{_G}: 5.7.26 DMARC policy of the sender's domain"),
    _one("gm-spamrate", "gmail.com", EOD,
         "550-5.7.1 Our system has detected an unusual rate of unsolicited mail originating\n"
         "550-5.7.1 from your IP address. To protect our users from spam, mail sent from your\n"
         "550 5.7.1 IP address has been blocked. https://support.google.com/mail/?p=UnsolicitedIPError",
         SOFT, ("blocked", "badreputation", "spamdetected"), f"{_G}: 5.7.1 IP reputation"),
    _one("gm-lowrep", "gmail.com", EOD,
         "421-4.7.0 This message is suspicious due to the very low reputation of the sending\n"
         "421 4.7.0 domain. https://support.google.com/mail/?p=UnsolicitedRateLimitError",
         SOFT, ("badreputation", "blocked"), f"{_G}: 4.7.0 low reputation (temporary)"),
    _one("gm-ratelimit", "gmail.com", MAIL,
         "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating\n"
         "421 4.7.28 from your IP address. https://support.google.com/mail/?p=UnsolicitedRateLimitError",
         SOFT, ("speeding", "badreputation", "blocked"), f"{_G}: 4.7.28 sender rate limited"),
    _one("gm-ptr", "gmail.com", MAIL,
         "550-5.7.25 The IP address sending this message does not have a PTR record setup.\n"
         "550 5.7.25 https://support.google.com/mail/answer/81126#ip-practices x-gsmtp",
         SOFT, ("requireptr", "blocked"), f"{_G}: 5.7.25 no PTR for our IP (RFC 8601 codes)"),
    _one("gm-toobig", "gmail.com", EOD,
         "552-5.3.4 Your message exceeded Google's message size limits. Please visit\n"
         "552 5.3.4 https://support.google.com/mail/?p=MaxSizeError to view our size guidelines.",
         SOFT, ("mesgtoobig",), f"{_G}: 5.3.4 message too big"),
    _one("gm-security", "gmail.com", EOD,
         "552-5.7.0 This message was blocked because its content presents a potential\n"
         "552 5.7.0 security issue. https://support.google.com/mail/?p=BlockedMessage",
         SOFT, ("securityerror", "virusdetected", "spamdetected", "policyviolation"),
         f"{_G}: 5.7.0 content security"),
    _one("gm-multifrom", "gmail.com", EOD,
         "550 5.7.1 Messages with multiple addresses in From: header are not accepted.",
         SOFT, ("notcompliantrfc", "policyviolation", "rejected", "contenterror"),
         f"{_G}: 5.7.1 content not RFC 5322 compliant"),
    _one("gm-notrelay", "gmail.com", MAIL,
         "550-5.7.1 [127.0.0.1] The IP you're using to send mail is not authorized to send\n"
         "550 5.7.1 email directly to our servers. Please use the SMTP relay at your provider.",
         SOFT, ("blocked",), f"{_G}: 5.7.1 our IP not authorised (sender side, MAIL FROM)"),
    _one("gm-tempfail", "gmail.com", DATA,
         "451 4.3.0 Temporary System Problem. Try again later. x-gsmtp",
         SOFT, ("systemerror",), f"{_G}: 4.3.0 temporary system problem"),
    _one("gm-greet", "gmail.com", CONNECT,
         "421 4.7.0 Try again later, closing connection. x-gsmtp",
         SOFT, ("toomanyconn", "blocked", "networkerror"), f"{_G}: 421 at connect"),
    # --- Microsoft 365 / Exchange Online / Outlook.com ---
    _one("ms-notfound", "contoso.com", RCPT,
         "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
         HARD, UU, f"{_M}: 5.1.10 recipient not found (a Microsoft use of 5.1.10)"),
    _one("ms-recipnotfound", "contoso.com", RCPT,
         "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
         HARD, UU, f"{_M}: 5.1.1 RecipNotFound"),
    _one("ms-dbeb", "contoso.com", RCPT,
         "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)"
         " [DM6NAM11FT012.eop-nam11.prod.protection.outlook.com]",
         HARD, UU, f"{_M}: 5.4.1 directory based edge blocking: the recipient doesn't exist"),
    _one("ms-outlook-unavail", "outlook.com", RCPT,
         "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)."
         " [AM4PEPF00025F9B.EURPRD83.prod.outlook.com]",
         HARD, UU, f"{_O}: mailbox unavailable at RCPT (RFC 5321 550)"),
    _one("ms-banned-ip", "contoso.com", RCPT,
         "550 5.7.606 Access denied, banned sending IP [127.0.0.1]. To request removal from"
         " this list please visit https://sender.office.com/ and follow the directions.",
         SOFT, ("blocked", "badreputation"), f"{_M}: 5.7.606-649 banned sending IP (sender side)"),
    _one("ms-traffic", "contoso.com", CONNECT,
         "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
         SOFT, ("blocked", "badreputation"), f"{_M}: 5.7.708 our IP (sender side)"),
    _one("ms-dmarc", "contoso.com", EOD,
         "550 5.7.509 Access denied, sending domain example.org does not pass DMARC"
         " verification and has a DMARC policy of reject.",
         SOFT, ("authfailure",), f"{_M}: 5.7.509 DMARC of our domain"),
    _one("ms-blocklist", "outlook.com", RCPT,
         "550 5.7.1 Unfortunately, messages from [127.0.0.1] weren't sent. Please contact your"
         " Internet service provider since part of their network is on our block list (S3150).",
         SOFT, ("blocked",), f"{_O}: S3150 block list (our network)"),
    _one("ms-quota", "contoso.com", EOD,
         "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException."
         "MapiExceptionShutoffQuotaExceeded",
         SOFT, ("mailboxfull",), f"{_M}: 5.2.2 mailbox full"),
    _one("ms-groupauth", "contoso.com", RCPT,
         "550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required;"
         " Delivery restriction check failed as sender not authenticated",
         SOFT, ("rejected", "policyviolation", "securityerror", "authfailure"),
         f"{_M}: 5.7.133 group restricted to authenticated senders (sender side)"),
    _one("ms-anon", "contoso.com", MAIL,
         "530 5.7.57 Client not authenticated to send mail during MAIL FROM",
         SOFT, ("securityerror", "rejected", "authfailure"), f"{_M}: 5.7.57 at MAIL FROM"),
    _one("ms-unregistered", "contoso.com", MAIL,
         "550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains.",
         SOFT, ("blocked", "rejected"), f"{_M}: 5.7.750 unregistered sending domain"),
    _one("ms-busy", "outlook.com", CONNECT,
         "421 4.7.500 Server busy. Please try again later from [127.0.0.1]. (S77719)",
         SOFT, ("toomanyconn", "speeding", "blocked"), f"{_O}: 4.7.500 server busy (temporary)"),
    _one("ms-iprep", "outlook.com", MAIL,
         "451 4.7.650 The mail server [127.0.0.1] has been temporarily rate limited due to IP"
         " reputation. For e-mail delivery information, see https://postmaster.live.com (S775)",
         SOFT, ("badreputation", "speeding", "blocked"), f"{_O}: 4.7.650 IP reputation"),
    _one("ms-hops", "contoso.com", EOD,
         "554 5.4.14 Hop count exceeded - possible mail loop ATTR34",
         SOFT, ("networkerror", "systemerror"), f"{_M}: 5.4.14 mail loop (RFC 3463 X.4.6)"),
    _one("ms-mime", "contoso.com", EOD,
         "554 5.6.211 Invalid MIME Content: Single text value size (32784) exceeded allowed"
         " maximum (32768) for the 'X-Header' property.",
         SOFT, ("contenterror", "mesgtoobig", "notcompliantrfc"), f"{_M}: 5.6.211 content"),
    _one("ms-size", "contoso.com", EOD,
         "552 5.3.4 Message size exceeds fixed maximum message size",
         SOFT, ("mesgtoobig",), f"{_M}: 5.3.4 size"),
    _one("ms-forwarding", "contoso.com", EOD,
         "550 5.7.520 Access denied, Your organization does not allow external forwarding.",
         SOFT, ("policyviolation", "rejected", "securityerror"),
         f"{_M}: 5.7.520 forwarding policy"),
    _one("ms-recipcount", "contoso.com", RCPT,
         "452 4.5.3 Too many recipients",
         SOFT, ("toomanyconn", "exceedlimit", "syntaxerror", "ratelimited"),
         "RFC 3463 X.5.3 too many recipients"),
    # --- Yahoo ---
    _one("yh-notfound", "yahoo.com", RCPT,
         "552 1 Requested mail action aborted, mailbox not found",
         HARD, UU, f"{_Y}: mailbox not found"),
    _one("yh-nouser", "yahoo.com", EOD,
         "554 delivery error: dd This user doesn't have a yahoo.com account"
         " (yh-nouser@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com",
         HARD, UU,
         f"{_Y}: 'doesn't have a yahoo.com account' (user unknown, given at end of data)"),
    _one("yh-disabled", "yahoo.com", EOD,
         "554 30 Sorry, your message to yh-disabled@yahoo.com cannot be delivered."
         " This mailbox is disabled (554.30).",
         SOFT, ("suspend",), f"{_Y}: mailbox disabled (554.30)"),
    _one("yh-policy", "yahoo.com", EOD,
         "554 5.7.9 Message not accepted for policy reasons."
         "  See https://senders.yahooinc.com/error-codes",
         SOFT, ("policyviolation", "blocked", "rejected", "spamdetected"), f"{_Y}: 5.7.9 policy"),
    _one("yh-unauth", "yahoo.com", EOD,
         "550 5.7.9 This mail has been blocked because the sender is unauthenticated."
         " Yahoo requires all senders to authenticate with either SPF or DKIM.",
         SOFT, ("authfailure",), f"{_Y}: 5.7.9 unauthenticated sender"),
    _one("yh-tss04", "yahoo.com", CONNECT,
         "421 4.7.0 [TSS04] Messages from 127.0.0.1 temporarily deferred due to unexpected"
         " volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
         SOFT, ("badreputation", "speeding", "blocked", "toomanyconn"), f"{_Y}: TSS04 (temporary)"),
    _one("yh-tss09", "yahoo.com", MAIL,
         "553 5.7.2 [TSS09] All messages from 127.0.0.1 will be permanently deferred;"
         " Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
         SOFT, ("blocked", "badreputation"), f"{_Y}: TSS09 our IP blocked (sender side)"),
    _one("yh-ts03", "yahoo.com", EOD,
         "554 5.7.9 [TS03] All messages from 127.0.0.1 will be permanently deferred;"
         " Retrying will NOT succeed. See https://senders.yahooinc.com/error-codes",
         SOFT, ("blocked", "badreputation", "spamdetected", "policyviolation"), f"{_Y}: TS03"),
    _one("yh-deferred", "yahoo.com", EOD,
         "451 Message temporarily deferred due to unresolvable RFC.5321 from domain"
         " - 4.16.55.1",
         SOFT, ("rejected", "blocked", "syntaxerror"), f"{_Y}: temporary deferral (sender domain)"),
    # --- iCloud ---
    _one("ic-nouser", "icloud.com", RCPT,
         "550 5.1.1 <ic-nouser@icloud.com>: user does not exist",
         HARD, UU, f"{_A}: 5.1.1 user does not exist"),
    _one("ic-quota", "icloud.com", RCPT,
         "552 5.2.2 <ic-quota@icloud.com>: user is over quota",
         SOFT, ("mailboxfull",), f"{_A}: over quota"),
    _one("ic-cs01", "icloud.com", EOD,
         "554 5.7.1 [CS01] Message rejected due to local policy."
         " Please visit https://support.apple.com/en-us/HT204137",
         SOFT, ("blocked", "policyviolation", "spamdetected", "rejected"),
         f"{_A}: CS01 local policy"),
    _one("ic-hm08", "icloud.com", EOD,
         "554 5.7.1 [HM08] Message rejected due to local policy."
         " Please visit https://support.apple.com/en-us/HT204137",
         SOFT, ("blocked", "policyviolation", "spamdetected", "rejected"),
         f"{_A}: HM08 local policy"),
    _one("ic-ip", "icloud.com", CONNECT,
         "554 5.7.0 Blocked - see https://support.apple.com/en-us/HT204137 [CS07]",
         SOFT, BL, f"{_A}: our IP blocked at connect"),
    # --- Proofpoint ---
    _one("pp-blocked", "pp-customer.example", CONNECT,
         "554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=127.0.0.1",
         SOFT, ("blocked", "badreputation"), f"{_P}: our IP blocked (connect)"),
    _one("pp-blocked-rcpt", "pp-customer.example", RCPT,
         "554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=127.0.0.1",
         SOFT, ("blocked", "badreputation"), f"{_P}: our IP blocked (given at RCPT)"),
    _one("pp-unknown", "pp-customer.example", RCPT,
         "550 5.1.1 User Unknown", HARD, UU, f"{_P}: 5.1.1 user unknown"),
    _one("pp-relay", "pp-customer.example", RCPT,
         "550 5.7.1 Relay access denied", SOFT, ("norelaying",), f"{_P}: relay denied"),
    _one("pp-dmarc", "pp-customer.example", EOD,
         "550 5.7.1 Email rejected per DMARC policy for example.org (13)",
         SOFT, ("authfailure",), f"{_P}: DMARC rejection (sender side)"),
    _one("pp-spam", "pp-customer.example", EOD,
         "554 5.7.1 Message rejected as spam by Content Filtering.",
         SOFT, ("spamdetected",), f"{_P}: spam"),
    _one("pp-grey", "pp-customer.example", RCPT,
         "451 4.7.1 Please try again later", SOFT, ("blocked", "rejected"),
         f"{_P}: greylisting (temporary)"),
    # --- Mimecast ---
    _one("mc-invalid", "mc-customer.example", RCPT,
         "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [a1b2c3.uk12]",
         HARD, UU, f"{_C}: 550 invalid recipient"),
    _one("mc-envblock", "mc-customer.example", RCPT,
         "550 Administrative prohibition - envelope blocked"
         " - https://community.mimecast.com/docs/DOC-1369#550 [d4e5.uk12]",
         SOFT, ("blocked", "rejected", "policyviolation"),
         f"{_C}: sender envelope blocked by policy"),
    _one("mc-userentry", "mc-customer.example", RCPT,
         "550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550",
         SOFT, ("blocked", "rejected", "policyviolation"),
         f"{_C}: the recipient's personal block list (about our sender)"),
    _one("mc-spoof", "mc-customer.example", EOD,
         "550 Rejected by header based Anti-Spoofing policy: example.org"
         " - https://community.mimecast.com/docs/DOC-1369#550 [f6a7.uk12]",
         SOFT, ("blocked", "policyviolation", "rejected", "authfailure", "securityerror"),
         f"{_C}: anti-spoofing policy (sender side)"),
    _one("mc-security", "mc-customer.example", EOD,
         "554 Email rejected due to security policies"
         " - https://community.mimecast.com/docs/DOC-1369#554",
         SOFT, ("policyviolation", "securityerror", "rejected", "spamdetected", "virusdetected",
                "blocked"), f"{_C}: security policies"),
    _one("mc-iprep", "mc-customer.example", CONNECT,
         "550 Local CT IP Reputation - (reject) - https://community.mimecast.com/docs/DOC-1369",
         SOFT, ("badreputation", "blocked"), f"{_C}: IP reputation (connect)"),
    _one("mc-internal", "mc-customer.example", RCPT,
         "451 Internal resource temporarily unavailable"
         " - https://community.mimecast.com/docs/DOC-1369#451",
         SOFT, ("systemerror",), f"{_C}: 451 temporary"),
    # --- RFC 5321 / RFC 3463 generic replies, each at its stage ---
    _one("rfc-unavail", "remote.test", RCPT,
         "550 Requested action not taken: mailbox unavailable", HARD, UU,
         f"{_R}: 550 mailbox unavailable at RCPT"),
    _one("rfc-notlocal", "remote.test", RCPT,
         "551 User not local; please try <someone@elsewhere.test>", HARD, ("hasmoved",),
         f"{_R}: 551 user not local"),
    _one("rfc-notallowed", "remote.test", RCPT,
         "553 Requested action not taken: mailbox name not allowed", HARD, UU,
         f"{_R}: 553 mailbox name not allowed (at RCPT: the address)"),
    _one("rfc-baddest", "remote.test", RCPT,
         "550 5.1.1 <rfc-baddest@remote.test>: Recipient address rejected:"
         " User unknown in local recipient table", HARD, UU, "Postfix smtpd reply, RFC 3463 5.1.1"),
    _one("rfc-nodomain", "remote.test", RCPT,
         "550 5.1.2 <rfc-nodomain@remote.test>: Recipient address rejected:"
         " Domain not found", HARD, ("hostunknown",), "RFC 3463 X.1.2 bad destination system"),
    _one("rfc-nullmx-rcpt", "remote.test", RCPT,
         "556 5.1.10 Recipient address has null MX", HARD, ("notaccept",),
         "RFC 7505 section 4.2: 556 5.1.10 at RCPT"),
    _one("rfc-moved", "remote.test", RCPT,
         "550 5.1.6 Destination mailbox has moved, no forwarding address", HARD, ("hasmoved",),
         "RFC 3463 X.1.6"),
    _one("rfc-ambig", "remote.test", RCPT,
         "550 5.1.4 Destination mailbox address ambiguous", HARD, UU, "RFC 3463 X.1.4"),
    _one("rfc-disabled", "remote.test", RCPT,
         "550 5.2.1 Mailbox disabled, not accepting messages", SOFT, ("suspend",),
         "RFC 3463 X.2.1 (may be temporary by policy)"),
    _one("rfc-busy", "remote.test", RCPT,
         "450 4.2.1 Mailbox busy, try again later", SOFT, ("systemerror", "speeding"),
         f"{_R}: 450 mailbox busy"),
    _one("rfc-quota-tmp", "remote.test", RCPT,
         "452 4.2.2 Mailbox full", SOFT, ("mailboxfull",), "RFC 3463 X.2.2 (temporary)"),
    _one("rfc-sysfull", "remote.test", RCPT,
         "452 4.3.1 Insufficient system storage", SOFT, ("systemfull",), "RFC 3463 X.3.1"),
    _one("rfc-relay", "remote.test", RCPT,
         "554 5.7.1 <rfc-relay@remote.test>: Relay access denied", SOFT, ("norelaying",),
         "Postfix smtpd relay refusal; RFC 3463 X.7.1"),
    _one("rfc-rbl-rcpt", "remote.test", RCPT,
         "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org;"
         " https://www.spamhaus.org/query/ip/127.0.0.1", SOFT, ("blocked",),
         "Postfix smtpd RBL refusal (our IP, sender side)"),
    _one("rfc-rbl-connect", "remote.test", CONNECT,
         "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org",
         SOFT, ("blocked",), "RBL refusal at the greeting (sender side)"),
    _one("rfc-greet521", "remote.test", CONNECT,
         "521 5.3.2 mx.remote.test does not accept mail", SOFT,
         ("notaccept", "blocked", "systemerror"), "RFC 7504 521 at connect: never hard (stage)"),
    _one("rfc-greet421", "remote.test", CONNECT,
         "421 4.3.2 Service not available, closing transmission channel", SOFT,
         ("systemerror", "networkerror", "toomanyconn"), f"{_R}: 421 at connect"),
    _one("rfc-helo-fqdn", "remote.test", HELO,
         "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", SOFT,
         ("rejected", "blocked", "syntaxerror", "notcompliantrfc"), "HELO refusal (sender side)"),
    _one("rfc-helo-nohost", "remote.test", HELO,
         "550 5.7.1 <mx.example.org>: Helo command rejected: Host not found", SOFT,
         ("rejected", "blocked", "requireptr"), "HELO refusal: 'not found' about our host"),
    _one("rfc-mail-unknown", "remote.test", MAIL,
         "550 5.1.1 <bounces+x@example.org>: Sender address rejected:"
         " User unknown in local recipient table", SOFT, ("rejected",),
         "RFC 3463 X.1.7/X.1.8 sender: a user-unknown text about OUR sender at MAIL FROM"),
    _one("rfc-mail-nodomain", "remote.test", MAIL,
         "553 5.1.8 <bounces+x@example.org>: Sender address rejected: Domain not found", SOFT,
         ("rejected",), "RFC 3463 X.1.8 bad sender's system address"),
    _one("rfc-mail-denied", "remote.test", MAIL,
         "550 5.7.1 <bounces+x@example.org>: Sender address rejected: Access denied", SOFT,
         ("rejected", "blocked"), "sender refused at MAIL FROM"),
    _one("rfc-mail-unverified", "remote.test", MAIL,
         "450 4.1.7 <bounces+x@example.org>: Sender address rejected:"
         " unverified address: host mx.example.org said: 550 5.1.1 mailbox unavailable", SOFT,
         ("rejected",), "Postfix reject_unverified_sender (temporary, sender side)"),
    _one("rfc-mail-auth", "remote.test", MAIL,
         "530 5.7.0 Authentication required", SOFT, ("securityerror", "rejected", "authfailure"),
         "RFC 4954 530 5.7.0 at MAIL FROM"),
    _one("rfc-mail-syntax", "remote.test", MAIL,
         "501 5.1.7 Bad sender address syntax", SOFT, ("rejected", "syntaxerror"),
         "RFC 3463 X.1.7 (sender)"),
    _one("rfc-data-norcpt", "remote.test", DATA,
         "554 5.5.1 Error: no valid recipients", SOFT, ("rejected", "syntaxerror", "systemerror"),
         "DATA refused (RFC 5321 554 at DATA): nothing about the address"),
    _one("rfc-data-tmp", "remote.test", DATA,
         "451 4.3.0 Error: queue file write error", SOFT, ("systemerror",), "RFC 3463 X.3.0"),
    _one("rfc-eod-spam", "remote.test", EOD,
         "550 5.7.1 Message rejected as spam", SOFT, ("spamdetected",), "content refusal"),
    _one("rfc-eod-virus", "remote.test", EOD,
         "554 5.7.0 Message rejected: virus found (Eicar-Test-Signature)", SOFT,
         ("virusdetected",), "content refusal"),
    _one("rfc-eod-big", "remote.test", EOD,
         "552 5.3.4 Error: message file too big", SOFT, ("mesgtoobig",), "RFC 3463 X.3.4"),
    _one("rfc-eod-unknown", "remote.test", EOD,
         "550 5.1.1 <rfc-eod-unknown@remote.test>: Recipient address rejected: User unknown",
         HARD, UU, "RFC 3463 X.1.1 naming the recipient, given after DATA (milter/LMTP style)"),
    _one("rfc-eod-trans", "remote.test", EOD,
         "554 5.6.0 Transaction failed", SOFT, ("contenterror", "systemerror", "rejected"),
         "RFC 3463 X.6.0 media error"),
    _one("rfc-eod-loop", "remote.test", EOD,
         "554 5.4.6 Too many hops", SOFT, ("networkerror", "systemerror"), "RFC 3463 X.4.6"),
    _one("rfc-eod-dkim", "remote.test", EOD,
         "550 5.7.20 No passing DKIM signature found", SOFT, ("authfailure",),
         "RFC 7372 5.7.20"),
    _one("rfc-eod-spf", "remote.test", EOD,
         "550 5.7.23 SPF validation failed", SOFT, ("authfailure",), "RFC 7372 5.7.23"),
    _one("rfc-eod-tmp", "remote.test", EOD,
         "451 4.7.1 Try again later (content scanner unavailable)", SOFT,
         ("systemerror", "blocked"), "temporary after the content"),
    _one("rfc-rcpt-grey", "remote.test", RCPT,
         "450 4.2.0 <rfc-rcpt-grey@remote.test>: Recipient address rejected: Greylisted,"
         " see https://postgrey.schweikert.ch/help/remote.test.html", SOFT, ("blocked",),
         "postgrey greylisting (temporary)"),
    _one("rfc-rcpt-tmpuser", "remote.test", RCPT,
         "450 4.1.1 <rfc-rcpt-tmpuser@remote.test>: Recipient address rejected:"
         " unverified address: connection timed out", SOFT, UU,
         "a 4.x.x user verification that never resolved: expired, soft"),
]


def _multi(tag: str, basis: str, *recipients: Recipient) -> Scenario:
    return Scenario(tag, RCPT, "", recipients, False, basis)


def _r(local: str, reply: str | None, severity: str, *reasons: str) -> Recipient:
    return Recipient(local, "remote.test", reply, severity, reasons, RCPT)


_MULTI = [
    _multi("mx-uu-full", "one message, three recipients, each its own outcome",
           _r("mx1-unknown", "550 5.1.1 User unknown", HARD, "userunknown"),
           _r("mx1-full", "552 5.2.2 Mailbox full", SOFT, "mailboxfull"),
           _r("mx1-ok", None, "ok")),
    _multi("mx-uu-policy", "one message, an unknown user and a policy refusal",
           _r("mx2-nosuch", "550 5.1.1 <mx2-nosuch@remote.test>: Recipient address rejected:"
              " User unknown in virtual mailbox table", HARD, "userunknown"),
           _r("mx2-policy", "550 5.7.1 <mx2-policy@remote.test>: Recipient address rejected:"
              " Access denied", SOFT, "blocked", "rejected", "policyviolation"),
           _r("mx2-ok", None, "ok")),
    _multi("mx-moved-disabled", "one message, moved and disabled",
           _r("mx3-moved", "551 5.1.6 User has moved; please try <new@elsewhere.test>", HARD,
              "hasmoved"),
           _r("mx3-disabled", "550 5.2.1 Mailbox disabled", SOFT, "suspend")),
]

_LOCAL = [
    Scenario(f"pipe{code}", UNKNOWN, "", (Recipient(f"pipe{code}", "pipe.test", None, severity,
             reasons, UNKNOWN),), code in (71, 74, 75), basis, f"pipe:{code}")
    for code, severity, reasons, basis in [
        (64, SOFT, ("mailererror", "systemerror"), "sysexits EX_USAGE"),
        (65, SOFT, ("mailererror", "contenterror"), "sysexits EX_DATAERR"),
        (67, HARD, UU, "sysexits EX_NOUSER: addressee unknown"),
        (68, HARD, ("hostunknown",), "sysexits EX_NOHOST: host name unknown"),
        (69, SOFT, ("mailererror", "systemerror"), "sysexits EX_UNAVAILABLE"),
        (70, SOFT, ("mailererror", "systemerror"), "sysexits EX_SOFTWARE"),
        (73, SOFT, ("mailererror", "systemerror", "expired"), "sysexits EX_CANTCREAT"),
        (75, SOFT, ("expired", "mailererror", "systemerror"), "sysexits EX_TEMPFAIL"),
        (77, SOFT, ("mailererror", "systemerror", "securityerror"), "sysexits EX_NOPERM"),
        (78, SOFT, ("mailererror", "systemerror"), "sysexits EX_CONFIG"),
    ]
] + [
    Scenario("localunknown", UNKNOWN, "", (Recipient("nosuchlocal", "mx.example.org", None, HARD,
             ("userunknown", "hostunknown"), UNKNOWN),), False,
             "no such local user (Exim only says 'Unrouteable address')", "local"),
    Scenario("nxdomain", UNKNOWN, "", (Recipient("someone", "nxdomain.test", None, HARD,
             ("hostunknown",), UNKNOWN),), False, "NXDOMAIN: RFC 5321 5.1", "dns"),
    Scenario("nullmx", UNKNOWN, "", (Recipient("someone", "nullmx.test", None, HARD,
             ("notaccept", "hostunknown"), UNKNOWN),), False, "RFC 7505 null MX", "dns"),
    Scenario("mxnohost", UNKNOWN, "", (Recipient("someone", "mxnohost.test", None, HARD,
             ("hostunknown",), UNKNOWN),), False, "the only MX host does not exist", "dns"),
    Scenario("servfail", UNKNOWN, "", (Recipient("someone", "servfail.test", None, SOFT,
             ("expired", "networkerror", "hostunknown"), UNKNOWN),), True,
             "DNS SERVFAIL: temporary (RFC 5321 5.1)", "dns"),
    Scenario("refused", CONNECT, "", (Recipient("someone", "refused.test", None, SOFT,
             ("expired", "networkerror"), CONNECT),), True, "connection refused", "session"),
    Scenario("dropped", EOD, "", (Recipient("dropped", "remote.test", None, SOFT,
             ("expired", "networkerror"), EOD),), True,
             "the server closes the connection after the data, no reply", "smtp"),
]


# --- issue 13: classes the grid above did not cover (appended: the scenario index is the
# server's address, so the scenarios above keep theirs). Truth from the standards, written
# before any classifier ran on the bounces.
_S = "remote.test"
_UU_RCPT = "RFC 5321 550 at RCPT + RFC 3463 X.1.1 bad destination mailbox"
_SENDER = "a refusal at MAIL FROM is about OUR sender (RFC 5321 3.3), whatever its text"
_MORE: list[Scenario] = [
    # multi-line replies whose address-level line is not the first
    _one("ml-uu-last", _S, RCPT,
         "550-Sorry, we could not deliver to this address.\n"
         "550-Please check the address and try again.\n"
         "550 5.1.1 <ml-uu-last@remote.test>: no such user here",
         HARD, UU, f"{_UU_RCPT}; the enhanced code only on the last line (RFC 2034 allows)"),
    _one("ml-callout", _S, RCPT,
         "550-Callout verification failed:\n"
         "550 550 5.1.1 <ml-callout@remote.test>: Recipient address rejected: User unknown",
         HARD, UU, "Exim recipient callout layout: the next hop's 5.1.1 on the second line"),
    _one("ml-senderverify", _S, RCPT,
         "550-Verification failed for <bounces+x@example.org>\n"
         "550-Unrouteable address\n550 Sender verify failed",
         SOFT, ("rejected", "blocked"),
         "Exim 'verify = sender' refusal given at RCPT: about OUR sender, never hard"),
    _one("ml-spam-long", _S, EOD,
         "\n".join([f"550-5.7.1 Line {n} of our policy notice: mail from your network was"
                    " rejected as unsolicited." for n in range(1, 15)]
                   + ["550 5.7.1 See https://policy.remote.test/spam for details."]),
         SOFT, ("spamdetected", "blocked", "policyviolation"),
         "15-line 5.7.1 content refusal (RFC 3463 X.7.1: sender side)"),
    # replies without an enhanced status code, at each stage
    _one("nc-greet554", _S, CONNECT, "554 No SMTP service here",
         SOFT, ("blocked", "notaccept", "systemerror", "rejected"),
         "RFC 5321 3.1/4.2.3: 554 at the greeting refuses the session, not the address"),
    _one("nc-greet421", _S, CONNECT,
         "421 mx.remote.test Service not available, closing transmission channel",
         SOFT, ("systemerror", "networkerror", "toomanyconn"), f"{_R}: 421 at the greeting"),
    _one("nc-helo", _S, HELO, "550 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)",
         SOFT, ("rejected", "blocked", "notcompliantrfc", "syntaxerror"),
         "HELO refusal with no enhanced code: about OUR host"),
    _one("nc-mail-unavail", _S, MAIL, "550 Requested action not taken: mailbox unavailable",
         SOFT, ("rejected",), f"{_R} 550 at MAIL FROM: {_SENDER}"),
    _one("nc-mail-nosuch", _S, MAIL, "550 No such user here",
         SOFT, ("rejected",), f"RFC 821 example text, given at MAIL FROM: {_SENDER}"),
    _one("nc-mail-notallowed", _S, MAIL,
         "553 Requested action not taken: mailbox name not allowed",
         SOFT, ("rejected", "syntaxerror"), f"{_R} 553 at MAIL FROM: {_SENDER}"),
    _one("nc-rcpt-nosuch", _S, RCPT, "550 No such user here", HARD, UU,
         "RFC 821 example reply to RCPT: the recipient does not exist"),
    _one("nc-rcpt-unknown", _S, RCPT, "550 User unknown", HARD, UU,
         "RFC 5321 550 at RCPT, no enhanced code: user unknown"),
    _one("nc-rcpt-qmail", _S, RCPT, "550 sorry, no mailbox here by that name. (#5.1.1)",
         HARD, UU, "qmail reply layout: the RFC 3463 code as (#5.1.1) at the end"),
    _one("nc-rcpt-qmailrelay", _S, RCPT,
         "553 sorry, that domain isn't in my list of allowed rcpthosts. (#5.7.1)",
         SOFT, ("norelaying",), "qmail relay refusal (#5.7.1): not about the address"),
    _one("nc-rcpt-storage", _S, RCPT,
         "552 Requested mail action aborted: exceeded storage allocation",
         SOFT, ("mailboxfull",), f"{_R}: 552 exceeded storage allocation"),
    _one("nc-rcpt-tmp", _S, RCPT, "450 Requested mail action not taken: mailbox unavailable",
         SOFT, ("systemerror", "userunknown", "blocked", "suspend"),
         f"{_R}: 450 mailbox unavailable (temporary)"),
    _one("nc-data", _S, DATA, "554 Transaction failed",
         SOFT, ("systemerror", "rejected", "contenterror"), f"{_R}: 554 at DATA"),
    _one("nc-data-tmp", _S, DATA, "451 Requested action aborted: local error in processing",
         SOFT, ("systemerror",), f"{_R}: 451 at DATA"),
    _one("nc-eod-storage", _S, EOD,
         "552 Requested mail action aborted: exceeded storage allocation",
         SOFT, ("mailboxfull", "mesgtoobig"), f"{_R}: 552 after the data"),
    _one("nc-eod-trans", _S, EOD, "554 Transaction failed",
         SOFT, ("systemerror", "rejected", "contenterror", "spamdetected", "policyviolation"),
         f"{_R}: 554 after the data"),
    _one("nc-eod-tmp", _S, EOD, "452 Requested action not taken: insufficient system storage",
         SOFT, ("systemfull", "systemerror"), f"{_R}: 452 after the data"),
    # the recipient named in other forms
    _one("rn-sendmail", _S, RCPT, "550 5.1.1 <rn-sendmail@remote.test>... User unknown",
         HARD, UU, "Sendmail's reply layout, RFC 3463 X.1.1"),
    _one("rn-bare", _S, RCPT,
         "550 5.1.1 Recipient address rejected: rn-bare@remote.test does not exist",
         HARD, UU, _UU_RCPT),
    _one("rn-upper", _S, RCPT, "550 5.1.1 User unknown: RN-UPPER@REMOTE.TEST",
         HARD, UU, f"{_UU_RCPT}; address in capitals (local parts compare caselessly)"),
    _one("rn-local", _S, RCPT, "550 5.1.1 <rn-local>: mailbox does not exist",
         HARD, UU, f"{_UU_RCPT}; the local part only"),
    _one("rn-syntax", _S, RCPT, "501 5.1.3 Bad recipient address syntax",
         HARD, ("userunknown", "syntaxerror"),
         "RFC 3463 X.1.3 bad destination mailbox address syntax: the address cannot work"),
    # sender-side refusals at MAIL FROM naming a user or mailbox
    _one("sn-sendmail", _S, MAIL,
         "553 5.1.8 <bounces+x@example.org>... Domain of sender address bounces+x@example.org"
         " does not exist", SOFT, ("rejected",), f"Sendmail's X.1.8 text: {_SENDER}"),
    _one("sn-mailbox", _S, MAIL,
         "550 5.1.0 <bounces+x@example.org>: Sender address rejected: mailbox does not exist",
         SOFT, ("rejected",), f"RFC 3463 X.1.0 at MAIL FROM: {_SENDER}"),
    _one("sn-ms-outbound", "contoso.com", MAIL, "550 5.1.8 Access denied, bad outbound sender",
         SOFT, ("rejected", "blocked"), f"{_M}: 5.1.8 bad outbound sender (our sender)"),
    # 4xx until the queue lifetime expires, at stages not covered above
    _one("tm-helo", _S, HELO,
         "450 4.7.1 <mx.example.org>: Helo command rejected: Host not found",
         SOFT, ("rejected", "blocked", "requireptr"), "Postfix reject_unknown_helo_hostname"
         " (temporary form): about OUR host"),
    _one("tm-mail", _S, MAIL, "452 4.3.1 Insufficient system storage",
         SOFT, ("systemfull",), "RFC 3463 X.3.1 at MAIL FROM (Postfix queue_minfree)"),
    _one("tm-rcpt421", _S, RCPT, "421 4.7.0 mx.remote.test Error: too many errors",
         SOFT, ("systemerror", "toomanyconn", "blocked", "networkerror"),
         "Postfix smtpd error limit: 421 at RCPT closes the session"),
    _one("tm-data421", _S, DATA, "421 4.3.2 System not accepting network messages",
         SOFT, ("systemerror", "networkerror"), "RFC 3463 X.3.2 at DATA"),
    # TLS required, no greeting
    _one("tls-required", "gmail.com", MAIL, "530 5.7.0 Must issue a STARTTLS command first.",
         SOFT, ("failedstarttls", "securityerror", "rejected"),
         f"{_G}: 530 5.7.0 STARTTLS required (also Postfix smtpd's text): our session"),
    Scenario("nogreet", CONNECT, "", (Recipient("nogreet", _S, None, SOFT,
             ("expired", "networkerror"), CONNECT),), True,
             "the server accepts the connection and never greets (timeout)", "session"),
    # non-ASCII and very long diagnostics
    _one("na-german", _S, RCPT, "550 5.1.1 <na-german@remote.test>: Empfänger unbekannt",
         HARD, UU, f"{_UU_RCPT} (German text, UTF-8 in the reply)"),
    _one("na-japanese", _S, RCPT, "550 5.1.1 <na-japanese@remote.test>: 宛先が存在しません",
         HARD, UU, f"{_UU_RCPT} (Japanese text, UTF-8 in the reply)"),
    _one("na-french", _S, RCPT, "552 5.2.2 <na-french@remote.test>: boîte aux lettres pleine",
         SOFT, ("mailboxfull",), "RFC 3463 X.2.2 (French text, UTF-8 in the reply)"),
    _one("lg-uu", _S, RCPT,
         "550 5.1.1 <lg-uu@remote.test>: Recipient address rejected: User unknown; "
         + " ".join(f"hint{n}=https://help.remote.test/smtp/5.1.1/{n}" for n in range(20)),
         HARD, UU, f"{_UU_RCPT}; a reply line longer than RFC 5321's 512 octets"),
    # provider texts
    _one("gm-outofstorage", "gmail.com", RCPT,
         "552-5.2.2 The recipient's inbox is out of storage space and inactive. Please direct\n"
         "552 5.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaPerm x-gsmtp",
         SOFT, ("mailboxfull", "suspend"), f"{_G}: 5.2.2 out of storage"),
    _one("ms-exrecip", "contoso.com", RCPT, "550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found",
         HARD, UU, f"{_M}: 5.1.1 ExRecipNotFound"),
    _one("ms-notallowed", "contoso.com", RCPT,
         "550 5.7.124 RESOLVER.RST.SenderNotAllowedForGroup; Delivery not authorized,"
         " message refused", SOFT, ("rejected", "policyviolation", "blocked", "securityerror"),
         f"{_M}: 5.7.124 sender not in the group's allowed senders (sender side)"),
    _one("yh-bl21", "yahoo.com", CONNECT,
         "553 5.7.1 [BL21] Connections will not be accepted from 127.0.0.1, because the ip is"
         " in Spamhaus's list; see https://senders.yahooinc.com/error-codes",
         SOFT, ("blocked", "badreputation"), f"{_Y}: BL21 our IP listed (connect)"),
]

_MORE_MULTI = [
    Scenario("mx-rcpt-eod", EOD, "552 5.3.4 Message size exceeds fixed maximum message size", (
        Recipient("mx4-unknown", _S, "550 5.1.1 <mx4-unknown@remote.test>: User unknown",
                  HARD, UU, RCPT),
        Recipient("mx4-big1", _S, None, SOFT, ("mesgtoobig",), EOD),
        Recipient("mx4-big2", _S, None, SOFT, ("mesgtoobig",), EOD),
    ), False, "one message: a hard refusal at RCPT, the others refused after the data (5.3.4)"),
    Scenario("mx-sender-rcpt", RCPT, "", (
        Recipient("mx5-unknown", _S, "550 5.1.1 User unknown", HARD, UU, RCPT),
        Recipient("mx5-sender", _S, "550 5.7.1 <bounces+x@example.org>: Sender address"
                  " rejected: Access denied", SOFT, ("rejected", "blocked"), RCPT),
        Recipient("mx5-moved", _S, "551 5.1.6 <mx5-moved@remote.test>: user has moved",
                  HARD, ("hasmoved",), RCPT),
    ), False, "one message: user unknown, a sender refusal given at RCPT, a moved user"),
]

_MORE_DNS = [
    Scenario("nodata", UNKNOWN, "", (Recipient("someone", "nodata.test", None, HARD,
             ("hostunknown", "notaccept"), UNKNOWN),), False,
             "the domain exists with no MX and no address: RFC 5321 5.1, no mail host", "dns"),
]

# fmt: on

SCENARIOS: tuple[Scenario, ...] = (*_ROWS, *_MULTI, *_LOCAL, *_MORE, *_MORE_MULTI, *_MORE_DNS)
