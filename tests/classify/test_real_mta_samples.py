"""Real Postfix, Exim and Sendmail bounces of the scenario grid (tests/samples/mta/real/,
made by scripts/mta_samples.py; their truth, tests/samples/mta/real/truth.jsonl, was written
before any classifier ran on them).

The WORK part (two thirds of the files, by the hash split of tests/corpus_split.py) is a
table of promises: each file's recipients with their class (hard / soft / none for a delay
warning) and reason. Where a promise differs from the truth, DISAGREEMENTS says why (a
boundary the truth and the classifier draw differently; each leans soft). The VALIDATION part
is only held to floors (no false hard, class agreement), never read to write a rule.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from corpus_split import part
from support import TESTS

from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules

REAL = TESTS / "samples" / "mta" / "real"
RULES = Classifier(load_rules().rules)
HARD, SOFT, NONE = "hard", "soft", "none"


def _truth() -> list[dict[str, Any]]:
    with (REAL / "truth.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


TRUTH: list[dict[str, Any]] = _truth()

# file (without .eml) -> (recipient, class, reason) of each result, in order: the work part
WORK: dict[str, list[tuple[str, str, str]]] = {
    "exim-gm-disabled-failed": [("gm-disabled@gmail.com", "soft", "suspend")],
    "exim-gm-dmarc-failed": [("gm-dmarc@gmail.com", "soft", "authfailure")],
    "exim-gm-greet-delayed": [("gm-greet@gmail.com", "none", "expired")],
    "exim-gm-lowrep-delayed": [("gm-lowrep@gmail.com", "none", "badreputation")],
    "exim-gm-multifrom-failed": [("gm-multifrom@gmail.com", "soft", "notcompliantrfc")],
    "exim-gm-nodomain-failed": [("gm-nodomain@gmail.com", "hard", "hostunknown")],
    "exim-gm-notfound-failed": [("gm-notfound@gmail.com", "hard", "userunknown")],
    "exim-gm-notrelay-failed": [("gm-notrelay@gmail.com", "soft", "blocked")],
    "exim-gm-outofstorage-failed": [("gm-outofstorage@gmail.com", "soft", "mailboxfull")],
    "exim-gm-overquota-tmp-failed": [("gm-overquota-tmp@gmail.com", "soft", "mailboxfull")],
    "exim-gm-policy-rcpt-failed": [("gm-policy-rcpt@gmail.com", "soft", "policyviolation")],
    "exim-gm-rate-user-delayed": [("gm-rate-user@gmail.com", "none", "expired")],
    "exim-gm-ratelimit-delayed": [("gm-ratelimit@gmail.com", "none", "speeding")],
    "exim-gm-ratelimit-failed": [("gm-ratelimit@gmail.com", "soft", "speeding")],
    "exim-gm-security-failed": [("gm-security@gmail.com", "soft", "policyviolation")],
    "exim-gm-tempfail-delayed": [("gm-tempfail@gmail.com", "none", "expired")],
    "exim-gm-toobig-failed": [("gm-toobig@gmail.com", "soft", "mesgtoobig")],
    "exim-gm-unauth-failed": [("gm-unauth@gmail.com", "soft", "authfailure")],
    "exim-ic-hm08-failed": [("ic-hm08@icloud.com", "soft", "policyviolation")],
    "exim-ic-ip-failed": [("ic-ip@icloud.com", "soft", "blocked")],
    "exim-ic-nouser-failed": [("ic-nouser@icloud.com", "hard", "userunknown")],
    "exim-localunknown-failed": [("nosuchlocal@mx.example.org", "hard", "hostunknown")],
    "exim-mc-envblock-failed": [("mc-envblock@mc-customer.example", "soft", "rejected")],
    "exim-mc-internal-delayed": [("mc-internal@mc-customer.example", "none", "expired")],
    "exim-mc-internal-failed": [("mc-internal@mc-customer.example", "soft", "expired")],
    "exim-mc-iprep-failed": [("mc-iprep@mc-customer.example", "soft", "badreputation")],
    "exim-ml-senderverify-failed": [("ml-senderverify@remote.test", "soft", "rejected")],
    "exim-ml-spam-long-failed": [("ml-spam-long@remote.test", "soft", "spamdetected")],
    "exim-ms-anon-failed": [("ms-anon@contoso.com", "soft", "rejected")],
    "exim-ms-blocklist-failed": [("ms-blocklist@outlook.com", "soft", "blocked")],
    "exim-ms-busy-delayed": [("ms-busy@outlook.com", "none", "expired")],
    "exim-ms-busy-failed": [("ms-busy@outlook.com", "soft", "expired")],
    "exim-ms-dbeb-failed": [("ms-dbeb@contoso.com", "hard", "userunknown")],
    "exim-ms-exrecip-failed": [("ms-exrecip@contoso.com", "hard", "userunknown")],
    "exim-ms-hops-failed": [("ms-hops@contoso.com", "soft", "networkerror")],
    "exim-ms-iprep-delayed": [("ms-iprep@outlook.com", "none", "badreputation")],
    "exim-ms-iprep-failed": [("ms-iprep@outlook.com", "soft", "badreputation")],
    "exim-ms-mime-failed": [("ms-mime@contoso.com", "soft", "contenterror")],
    "exim-ms-notfound-failed": [("ms-notfound@contoso.com", "hard", "userunknown")],
    "exim-ms-quota-failed": [("ms-quota@contoso.com", "soft", "mailboxfull")],
    "exim-ms-recipnotfound-failed": [("ms-recipnotfound@contoso.com", "hard", "userunknown")],
    "exim-ms-traffic-failed": [("ms-traffic@contoso.com", "soft", "blocked")],
    "exim-ms-unregistered-failed": [("ms-unregistered@contoso.com", "soft", "blocked")],
    "exim-mx-moved-disabled-failed": [
        ("mx3-moved@remote.test", "hard", "hasmoved"),
        ("mx3-disabled@remote.test", "soft", "suspend"),
    ],
    "exim-mx-rcpt-eod-failed": [
        ("mx4-unknown@remote.test", "hard", "userunknown"),
        ("mx4-big1@remote.test", "soft", "mesgtoobig"),
        ("mx4-big2@remote.test", "soft", "mesgtoobig"),
    ],
    "exim-mx-sender-rcpt-failed": [
        ("mx5-unknown@remote.test", "hard", "userunknown"),
        ("mx5-sender@remote.test", "soft", "rejected"),
        ("mx5-moved@remote.test", "hard", "hasmoved"),
    ],
    "exim-mx-uu-policy-failed": [
        ("mx2-nosuch@remote.test", "hard", "userunknown"),
        ("mx2-policy@remote.test", "soft", "policyviolation"),
    ],
    "exim-mxnohost-failed": [("someone@mxnohost.test", "hard", "hostunknown")],
    "exim-na-french-failed": [("na-french@remote.test", "soft", "mailboxfull")],
    "exim-na-japanese-failed": [("na-japanese@remote.test", "hard", "userunknown")],
    "exim-nc-data-failed": [("nc-data@remote.test", "soft", "systemerror")],
    "exim-nc-data-tmp-delayed": [("nc-data-tmp@remote.test", "none", "systemerror")],
    "exim-nc-data-tmp-failed": [("nc-data-tmp@remote.test", "soft", "expired")],
    "exim-nc-eod-storage-failed": [("nc-eod-storage@remote.test", "soft", "mailboxfull")],
    "exim-nc-eod-tmp-delayed": [("nc-eod-tmp@remote.test", "none", "systemfull")],
    "exim-nc-eod-trans-failed": [("nc-eod-trans@remote.test", "soft", "systemerror")],
    "exim-nc-greet421-delayed": [("nc-greet421@remote.test", "none", "systemerror")],
    "exim-nc-helo-failed": [("nc-helo@remote.test", "soft", "rejected")],
    "exim-nc-mail-nosuch-failed": [("nc-mail-nosuch@remote.test", "soft", "rejected")],
    "exim-nc-mail-notallowed-failed": [("nc-mail-notallowed@remote.test", "soft", "rejected")],
    "exim-nc-mail-unavail-failed": [("nc-mail-unavail@remote.test", "soft", "rejected")],
    "exim-nc-rcpt-qmail-failed": [("nc-rcpt-qmail@remote.test", "hard", "userunknown")],
    "exim-nc-rcpt-qmailrelay-failed": [("nc-rcpt-qmailrelay@remote.test", "soft", "norelaying")],
    "exim-nc-rcpt-storage-failed": [("nc-rcpt-storage@remote.test", "soft", "mailboxfull")],
    "exim-nc-rcpt-tmp-delayed": [("nc-rcpt-tmp@remote.test", "none", "expired")],
    "exim-nc-rcpt-tmp-failed": [("nc-rcpt-tmp@remote.test", "soft", "expired")],
    "exim-nc-rcpt-unknown-failed": [("nc-rcpt-unknown@remote.test", "hard", "userunknown")],
    "exim-nogreet-delayed": [("nogreet@remote.test", "none", "expired")],
    "exim-nogreet-failed": [("nogreet@remote.test", "soft", "expired")],
    "exim-nullmx-failed": [("someone@nullmx.test", "hard", "notaccept")],
    "exim-nxdomain-failed": [("someone@nxdomain.test", "hard", "hostunknown")],
    "exim-pipe64-failed": [("pipe64@pipe.test", "soft", "mailererror")],
    "exim-pipe67-failed": [("pipe67@pipe.test", "soft", "mailererror")],
    "exim-pipe73-failed": [("pipe73@pipe.test", "soft", "expired")],
    "exim-pipe75-delayed": [("pipe75@pipe.test", "none", "expired")],
    "exim-pipe75-failed": [("pipe75@pipe.test", "soft", "expired")],
    "exim-pipe77-failed": [("pipe77@pipe.test", "soft", "mailererror")],
    "exim-pipe78-failed": [("pipe78@pipe.test", "soft", "mailererror")],
    "exim-pp-blocked-rcpt-failed": [("pp-blocked-rcpt@pp-customer.example", "soft", "blocked")],
    "exim-pp-dmarc-failed": [("pp-dmarc@pp-customer.example", "soft", "authfailure")],
    "exim-pp-grey-delayed": [("pp-grey@pp-customer.example", "none", "expired")],
    "exim-pp-grey-failed": [("pp-grey@pp-customer.example", "soft", "expired")],
    "exim-pp-relay-failed": [("pp-relay@pp-customer.example", "soft", "norelaying")],
    "exim-pp-unknown-failed": [("pp-unknown@pp-customer.example", "hard", "userunknown")],
    "exim-refused-delayed": [("someone@refused.test", "none", "expired")],
    "exim-rfc-baddest-failed": [("rfc-baddest@remote.test", "hard", "userunknown")],
    "exim-rfc-data-norcpt-failed": [("rfc-data-norcpt@remote.test", "soft", "syntaxerror")],
    "exim-rfc-data-tmp-delayed": [("rfc-data-tmp@remote.test", "none", "systemerror")],
    "exim-rfc-disabled-failed": [("rfc-disabled@remote.test", "soft", "suspend")],
    "exim-rfc-eod-big-failed": [("rfc-eod-big@remote.test", "soft", "mesgtoobig")],
    "exim-rfc-eod-dkim-failed": [("rfc-eod-dkim@remote.test", "soft", "authfailure")],
    "exim-rfc-eod-loop-failed": [("rfc-eod-loop@remote.test", "soft", "networkerror")],
    "exim-rfc-eod-spam-failed": [("rfc-eod-spam@remote.test", "soft", "spamdetected")],
    "exim-rfc-eod-tmp-failed": [("rfc-eod-tmp@remote.test", "soft", "expired")],
    "exim-rfc-eod-trans-failed": [("rfc-eod-trans@remote.test", "soft", "systemerror")],
    "exim-rfc-eod-unknown-failed": [("rfc-eod-unknown@remote.test", "hard", "userunknown")],
    "exim-rfc-eod-virus-failed": [("rfc-eod-virus@remote.test", "soft", "virusdetected")],
    "exim-rfc-greet421-delayed": [("rfc-greet421@remote.test", "none", "systemerror")],
    "exim-rfc-greet421-failed": [("rfc-greet421@remote.test", "soft", "expired")],
    "exim-rfc-greet521-failed": [("rfc-greet521@remote.test", "soft", "blocked")],
    "exim-rfc-helo-fqdn-failed": [("rfc-helo-fqdn@remote.test", "soft", "syntaxerror")],
    "exim-rfc-mail-auth-failed": [("rfc-mail-auth@remote.test", "soft", "securityerror")],
    "exim-rfc-mail-denied-failed": [("rfc-mail-denied@remote.test", "soft", "rejected")],
    "exim-rfc-mail-nodomain-failed": [("rfc-mail-nodomain@remote.test", "soft", "rejected")],
    "exim-rfc-mail-syntax-failed": [("rfc-mail-syntax@remote.test", "soft", "rejected")],
    "exim-rfc-mail-unknown-failed": [("rfc-mail-unknown@remote.test", "soft", "rejected")],
    "exim-rfc-mail-unverified-failed": [("rfc-mail-unverified@remote.test", "soft", "rejected")],
    "exim-rfc-moved-failed": [("rfc-moved@remote.test", "hard", "hasmoved")],
    "exim-rfc-notallowed-failed": [("rfc-notallowed@remote.test", "hard", "userunknown")],
    "exim-rfc-notlocal-failed": [("rfc-notlocal@remote.test", "hard", "hasmoved")],
    "exim-rfc-quota-tmp-delayed": [("rfc-quota-tmp@remote.test", "none", "mailboxfull")],
    "exim-rfc-quota-tmp-failed": [("rfc-quota-tmp@remote.test", "soft", "mailboxfull")],
    "exim-rfc-rbl-connect-failed": [("rfc-rbl-connect@remote.test", "soft", "blocked")],
    "exim-rfc-rbl-rcpt-failed": [("rfc-rbl-rcpt@remote.test", "soft", "blocked")],
    "exim-rfc-rcpt-grey-delayed": [("rfc-rcpt-grey@remote.test", "none", "expired")],
    "exim-rfc-rcpt-tmpuser-delayed": [("rfc-rcpt-tmpuser@remote.test", "none", "expired")],
    "exim-rfc-rcpt-tmpuser-failed": [("rfc-rcpt-tmpuser@remote.test", "soft", "expired")],
    "exim-rn-bare-failed": [("rn-bare@remote.test", "hard", "userunknown")],
    "exim-rn-syntax-failed": [("rn-syntax@remote.test", "hard", "userunknown")],
    "exim-rn-upper-failed": [("rn-upper@remote.test", "hard", "userunknown")],
    "exim-servfail-delayed": [("someone@servfail.test", "none", "expired")],
    "exim-tm-data421-delayed": [("tm-data421@remote.test", "none", "expired")],
    "exim-tm-helo-delayed": [("tm-helo@remote.test", "none", "expired")],
    "exim-tm-helo-failed": [("tm-helo@remote.test", "soft", "expired")],
    "exim-tm-mail-delayed": [("tm-mail@remote.test", "none", "systemfull")],
    "exim-tm-mail-failed": [("tm-mail@remote.test", "soft", "expired")],
    "exim-tm-rcpt421-delayed": [("tm-rcpt421@remote.test", "none", "expired")],
    "exim-tm-rcpt421-failed": [("tm-rcpt421@remote.test", "soft", "expired")],
    "exim-yh-deferred-failed": [("yh-deferred@yahoo.com", "soft", "rejected")],
    "exim-yh-disabled-failed": [("yh-disabled@yahoo.com", "soft", "suspend")],
    "exim-yh-notfound-failed": [("yh-notfound@yahoo.com", "hard", "userunknown")],
    "exim-yh-nouser-failed": [("yh-nouser@yahoo.com", "hard", "userunknown")],
    "exim-yh-policy-failed": [("yh-policy@yahoo.com", "soft", "policyviolation")],
    "exim-yh-tss04-failed": [("yh-tss04@yahoo.com", "soft", "badreputation")],
    "exim-yh-unauth-failed": [("yh-unauth@yahoo.com", "soft", "authfailure")],
    "postfix-dropped-delayed": [("dropped@remote.test", "none", "networkerror")],
    "postfix-dropped-failed": [("dropped@remote.test", "soft", "networkerror")],
    "postfix-gm-lowrep-delayed": [("gm-lowrep@gmail.com", "none", "badreputation")],
    "postfix-gm-lowrep-failed": [("gm-lowrep@gmail.com", "soft", "badreputation")],
    "postfix-gm-notfound-failed": [("gm-notfound@gmail.com", "hard", "userunknown")],
    "postfix-gm-notrelay-failed": [("gm-notrelay@gmail.com", "soft", "blocked")],
    "postfix-gm-outofstorage-failed": [("gm-outofstorage@gmail.com", "soft", "mailboxfull")],
    "postfix-gm-overquota-failed": [("gm-overquota@gmail.com", "soft", "mailboxfull")],
    "postfix-gm-overquota-tmp-failed": [("gm-overquota-tmp@gmail.com", "soft", "mailboxfull")],
    "postfix-gm-policy-rcpt-failed": [("gm-policy-rcpt@gmail.com", "soft", "policyviolation")],
    "postfix-gm-ptr-failed": [("gm-ptr@gmail.com", "soft", "requireptr")],
    "postfix-gm-ratelimit-delayed": [("gm-ratelimit@gmail.com", "none", "speeding")],
    "postfix-gm-ratelimit-failed": [("gm-ratelimit@gmail.com", "soft", "speeding")],
    "postfix-gm-security-failed": [("gm-security@gmail.com", "soft", "policyviolation")],
    "postfix-gm-tempfail-delayed": [("gm-tempfail@gmail.com", "none", "expired")],
    "postfix-gm-tempfail-failed": [("gm-tempfail@gmail.com", "soft", "systemerror")],
    "postfix-gm-toobig-failed": [("gm-toobig@gmail.com", "soft", "mesgtoobig")],
    "postfix-gm-unauth-failed": [("gm-unauth@gmail.com", "soft", "authfailure")],
    "postfix-ic-hm08-failed": [("ic-hm08@icloud.com", "soft", "policyviolation")],
    "postfix-ic-ip-failed": [("ic-ip@icloud.com", "soft", "blocked")],
    "postfix-ic-nouser-failed": [("ic-nouser@icloud.com", "hard", "userunknown")],
    "postfix-lg-uu-failed": [("lg-uu@remote.test", "hard", "userunknown")],
    "postfix-localunknown-failed": [("nosuchlocal@mx.example.org", "hard", "userunknown")],
    "postfix-mc-envblock-failed": [("mc-envblock@mc-customer.example", "soft", "rejected")],
    "postfix-mc-internal-delayed": [("mc-internal@mc-customer.example", "none", "expired")],
    "postfix-mc-internal-failed": [("mc-internal@mc-customer.example", "soft", "systemerror")],
    "postfix-mc-invalid-failed": [("mc-invalid@mc-customer.example", "hard", "userunknown")],
    "postfix-mc-iprep-failed": [("mc-iprep@mc-customer.example", "soft", "badreputation")],
    "postfix-mc-spoof-failed": [("mc-spoof@mc-customer.example", "soft", "policyviolation")],
    "postfix-mc-userentry-failed": [("mc-userentry@mc-customer.example", "soft", "rejected")],
    "postfix-ml-callout-failed": [("ml-callout@remote.test", "hard", "userunknown")],
    "postfix-ml-senderverify-failed": [("ml-senderverify@remote.test", "soft", "rejected")],
    "postfix-ml-spam-long-failed": [("ml-spam-long@remote.test", "soft", "spamdetected")],
    "postfix-ms-anon-failed": [("ms-anon@contoso.com", "soft", "rejected")],
    "postfix-ms-blocklist-failed": [("ms-blocklist@outlook.com", "soft", "blocked")],
    "postfix-ms-busy-delayed": [("ms-busy@outlook.com", "none", "expired")],
    "postfix-ms-dbeb-failed": [("ms-dbeb@contoso.com", "hard", "userunknown")],
    "postfix-ms-dmarc-failed": [("ms-dmarc@contoso.com", "soft", "authfailure")],
    "postfix-ms-exrecip-failed": [("ms-exrecip@contoso.com", "hard", "userunknown")],
    "postfix-ms-forwarding-failed": [("ms-forwarding@contoso.com", "soft", "rejected")],
    "postfix-ms-groupauth-failed": [("ms-groupauth@contoso.com", "soft", "securityerror")],
    "postfix-ms-iprep-delayed": [("ms-iprep@outlook.com", "none", "badreputation")],
    "postfix-ms-iprep-failed": [("ms-iprep@outlook.com", "soft", "badreputation")],
    "postfix-ms-notallowed-failed": [("ms-notallowed@contoso.com", "soft", "securityerror")],
    "postfix-ms-quota-failed": [("ms-quota@contoso.com", "soft", "mailboxfull")],
    "postfix-ms-recipcount-delayed": [("ms-recipcount@contoso.com", "none", "toomanyconn")],
    "postfix-ms-recipcount-failed": [("ms-recipcount@contoso.com", "soft", "toomanyconn")],
    "postfix-ms-recipnotfound-failed": [("ms-recipnotfound@contoso.com", "hard", "userunknown")],
    "postfix-ms-traffic-delayed": [("ms-traffic@contoso.com", "none", "blocked")],
    "postfix-ms-traffic-failed": [("ms-traffic@contoso.com", "soft", "blocked")],
    "postfix-ms-unregistered-failed": [("ms-unregistered@contoso.com", "soft", "blocked")],
    "postfix-mx-moved-disabled-failed": [
        ("mx3-disabled@remote.test", "soft", "suspend"),
        ("mx3-moved@remote.test", "hard", "hasmoved"),
    ],
    "postfix-mx-sender-rcpt-failed": [
        ("mx5-moved@remote.test", "hard", "hasmoved"),
        ("mx5-sender@remote.test", "soft", "rejected"),
        ("mx5-unknown@remote.test", "hard", "userunknown"),
    ],
    "postfix-mx-uu-full-failed": [
        ("mx1-full@remote.test", "soft", "mailboxfull"),
        ("mx1-unknown@remote.test", "hard", "userunknown"),
    ],
    "postfix-mx-uu-policy-failed": [
        ("mx2-nosuch@remote.test", "hard", "userunknown"),
        ("mx2-policy@remote.test", "soft", "policyviolation"),
    ],
    "postfix-na-french-failed": [("na-french@remote.test", "soft", "mailboxfull")],
    "postfix-na-german-failed": [("na-german@remote.test", "hard", "userunknown")],
    "postfix-nc-data-failed": [("nc-data@remote.test", "soft", "systemerror")],
    "postfix-nc-data-tmp-delayed": [("nc-data-tmp@remote.test", "none", "systemerror")],
    "postfix-nc-eod-storage-failed": [("nc-eod-storage@remote.test", "soft", "mailboxfull")],
    "postfix-nc-eod-tmp-delayed": [("nc-eod-tmp@remote.test", "none", "systemfull")],
    "postfix-nc-eod-tmp-failed": [("nc-eod-tmp@remote.test", "soft", "systemfull")],
    "postfix-nc-eod-trans-failed": [("nc-eod-trans@remote.test", "soft", "systemerror")],
    "postfix-nc-greet554-delayed": [("nc-greet554@remote.test", "none", "expired")],
    "postfix-nc-greet554-failed": [("nc-greet554@remote.test", "soft", "blocked")],
    "postfix-nc-helo-failed": [("nc-helo@remote.test", "soft", "rejected")],
    "postfix-nc-mail-notallowed-failed": [("nc-mail-notallowed@remote.test", "soft", "rejected")],
    "postfix-nc-rcpt-storage-failed": [("nc-rcpt-storage@remote.test", "soft", "mailboxfull")],
    "postfix-nc-rcpt-tmp-failed": [("nc-rcpt-tmp@remote.test", "soft", "expired")],
    "postfix-nc-rcpt-unknown-failed": [("nc-rcpt-unknown@remote.test", "hard", "userunknown")],
    "postfix-nodata-failed": [("someone@nodata.test", "hard", "hostunknown")],
    "postfix-nullmx-failed": [("someone@nullmx.test", "hard", "notaccept")],
    "postfix-nxdomain-failed": [("someone@nxdomain.test", "hard", "hostunknown")],
    "postfix-pipe64-failed": [("pipe64@pipe.test", "soft", "mailererror")],
    "postfix-pipe65-failed": [("pipe65@pipe.test", "soft", "mailererror")],
    "postfix-pipe69-failed": [("pipe69@pipe.test", "soft", "mailererror")],
    "postfix-pipe70-failed": [("pipe70@pipe.test", "soft", "mailererror")],
    "postfix-pipe73-failed": [("pipe73@pipe.test", "soft", "mailererror")],
    "postfix-pipe75-delayed": [("pipe75@pipe.test", "none", "mailererror")],
    "postfix-pipe77-failed": [("pipe77@pipe.test", "soft", "mailererror")],
    "postfix-pipe78-failed": [("pipe78@pipe.test", "soft", "mailererror")],
    "postfix-pp-blocked-delayed": [("pp-blocked@pp-customer.example", "none", "blocked")],
    "postfix-pp-blocked-failed": [("pp-blocked@pp-customer.example", "soft", "blocked")],
    "postfix-pp-dmarc-failed": [("pp-dmarc@pp-customer.example", "soft", "authfailure")],
    "postfix-pp-grey-failed": [("pp-grey@pp-customer.example", "soft", "blocked")],
    "postfix-pp-relay-failed": [("pp-relay@pp-customer.example", "soft", "norelaying")],
    "postfix-refused-delayed": [("someone@refused.test", "none", "networkerror")],
    "postfix-refused-failed": [("someone@refused.test", "soft", "expired")],
    "postfix-rfc-ambig-failed": [("rfc-ambig@remote.test", "hard", "userunknown")],
    "postfix-rfc-baddest-failed": [("rfc-baddest@remote.test", "hard", "userunknown")],
    "postfix-rfc-busy-failed": [("rfc-busy@remote.test", "soft", "expired")],
    "postfix-rfc-data-tmp-delayed": [("rfc-data-tmp@remote.test", "none", "systemerror")],
    "postfix-rfc-data-tmp-failed": [("rfc-data-tmp@remote.test", "soft", "systemerror")],
    "postfix-rfc-disabled-failed": [("rfc-disabled@remote.test", "soft", "suspend")],
    "postfix-rfc-eod-big-failed": [("rfc-eod-big@remote.test", "soft", "mesgtoobig")],
    "postfix-rfc-eod-dkim-failed": [("rfc-eod-dkim@remote.test", "soft", "authfailure")],
    "postfix-rfc-eod-spam-failed": [("rfc-eod-spam@remote.test", "soft", "spamdetected")],
    "postfix-rfc-eod-spf-failed": [("rfc-eod-spf@remote.test", "soft", "authfailure")],
    "postfix-rfc-eod-unknown-failed": [("rfc-eod-unknown@remote.test", "hard", "userunknown")],
    "postfix-rfc-greet521-failed": [("rfc-greet521@remote.test", "soft", "blocked")],
    "postfix-rfc-mail-auth-failed": [("rfc-mail-auth@remote.test", "soft", "securityerror")],
    "postfix-rfc-mail-nodomain-failed": [("rfc-mail-nodomain@remote.test", "soft", "rejected")],
    "postfix-rfc-mail-syntax-failed": [("rfc-mail-syntax@remote.test", "soft", "rejected")],
    "postfix-rfc-mail-unknown-failed": [("rfc-mail-unknown@remote.test", "soft", "rejected")],
    "postfix-rfc-moved-failed": [("rfc-moved@remote.test", "hard", "hasmoved")],
    "postfix-rfc-notallowed-failed": [("rfc-notallowed@remote.test", "hard", "userunknown")],
    "postfix-rfc-notlocal-failed": [("rfc-notlocal@remote.test", "hard", "hasmoved")],
    "postfix-rfc-quota-tmp-delayed": [("rfc-quota-tmp@remote.test", "none", "mailboxfull")],
    "postfix-rfc-rbl-connect-failed": [("rfc-rbl-connect@remote.test", "soft", "blocked")],
    "postfix-rfc-rbl-rcpt-failed": [("rfc-rbl-rcpt@remote.test", "soft", "blocked")],
    "postfix-rfc-rcpt-grey-delayed": [("rfc-rcpt-grey@remote.test", "none", "expired")],
    "postfix-rfc-rcpt-grey-failed": [("rfc-rcpt-grey@remote.test", "soft", "expired")],
    "postfix-rfc-relay-failed": [("rfc-relay@remote.test", "soft", "norelaying")],
    "postfix-rfc-unavail-failed": [("rfc-unavail@remote.test", "hard", "userunknown")],
    "postfix-rn-bare-failed": [("rn-bare@remote.test", "hard", "userunknown")],
    "postfix-rn-syntax-failed": [("rn-syntax@remote.test", "hard", "userunknown")],
    "postfix-rn-upper-failed": [("rn-upper@remote.test", "hard", "userunknown")],
    "postfix-servfail-delayed": [("someone@servfail.test", "none", "networkerror")],
    "postfix-sn-mailbox-failed": [("sn-mailbox@remote.test", "soft", "rejected")],
    "postfix-sn-ms-outbound-failed": [("sn-ms-outbound@contoso.com", "soft", "rejected")],
    "postfix-sn-sendmail-failed": [("sn-sendmail@remote.test", "soft", "rejected")],
    "postfix-tls-required-failed": [("tls-required@gmail.com", "soft", "securityerror")],
    "postfix-tm-data421-delayed": [("tm-data421@remote.test", "none", "expired")],
    "postfix-tm-data421-failed": [("tm-data421@remote.test", "soft", "systemerror")],
    "postfix-tm-helo-delayed": [("tm-helo@remote.test", "none", "expired")],
    "postfix-tm-helo-failed": [("tm-helo@remote.test", "soft", "blocked")],
    "postfix-tm-mail-failed": [("tm-mail@remote.test", "soft", "systemfull")],
    "postfix-tm-rcpt421-failed": [("tm-rcpt421@remote.test", "soft", "expired")],
    "postfix-yh-bl21-delayed": [("yh-bl21@yahoo.com", "none", "blocked")],
    "postfix-yh-deferred-delayed": [("yh-deferred@yahoo.com", "none", "rejected")],
    "postfix-yh-deferred-failed": [("yh-deferred@yahoo.com", "soft", "rejected")],
    "postfix-yh-disabled-failed": [("yh-disabled@yahoo.com", "soft", "suspend")],
    "postfix-yh-notfound-failed": [("yh-notfound@yahoo.com", "hard", "userunknown")],
    "postfix-yh-nouser-failed": [("yh-nouser@yahoo.com", "hard", "userunknown")],
    "postfix-yh-ts03-failed": [("yh-ts03@yahoo.com", "soft", "blocked")],
    "postfix-yh-tss04-failed": [("yh-tss04@yahoo.com", "soft", "badreputation")],
    "postfix-yh-tss09-failed": [("yh-tss09@yahoo.com", "soft", "blocked")],
    "postfix-yh-unauth-failed": [("yh-unauth@yahoo.com", "soft", "authfailure")],
    "sendmail-dropped-delayed": [("dropped@remote.test", "none", "expired")],
    "sendmail-gm-disabled-failed": [("gm-disabled@gmail.com", "soft", "suspend")],
    "sendmail-gm-dmarc-failed": [("gm-dmarc@gmail.com", "soft", "authfailure")],
    "sendmail-gm-greet-delayed": [("gm-greet@gmail.com", "none", "expired")],
    "sendmail-gm-greet-failed": [("gm-greet@gmail.com", "soft", "expired")],
    "sendmail-gm-lowrep-delayed": [("gm-lowrep@gmail.com", "none", "badreputation")],
    "sendmail-gm-lowrep-failed": [("gm-lowrep@gmail.com", "soft", "badreputation")],
    "sendmail-gm-multifrom-failed": [("gm-multifrom@gmail.com", "soft", "notcompliantrfc")],
    "sendmail-gm-nosuchuser-failed": [("gm-nosuchuser@gmail.com", "hard", "userunknown")],
    "sendmail-gm-notfound-failed": [("gm-notfound@gmail.com", "hard", "userunknown")],
    "sendmail-gm-overquota-failed": [("gm-overquota@gmail.com", "soft", "mailboxfull")],
    "sendmail-gm-overquota-tmp-failed": [("gm-overquota-tmp@gmail.com", "soft", "mailboxfull")],
    "sendmail-gm-policy-rcpt-failed": [("gm-policy-rcpt@gmail.com", "soft", "policyviolation")],
    "sendmail-gm-rate-user-delayed": [("gm-rate-user@gmail.com", "none", "expired")],
    "sendmail-gm-rate-user-failed": [("gm-rate-user@gmail.com", "soft", "expired")],
    "sendmail-gm-ratelimit-failed": [("gm-ratelimit@gmail.com", "soft", "speeding")],
    "sendmail-gm-spamrate-failed": [("gm-spamrate@gmail.com", "soft", "blocked")],
    "sendmail-gm-toobig-failed": [("gm-toobig@gmail.com", "soft", "mesgtoobig")],
    "sendmail-ic-cs01-failed": [("ic-cs01@icloud.com", "soft", "policyviolation")],
    "sendmail-lg-uu-failed": [("lg-uu@remote.test", "hard", "userunknown")],
    "sendmail-localunknown-failed": [("nosuchlocal@mx.example.org", "hard", "userunknown")],
    "sendmail-mc-envblock-failed": [("mc-envblock@mc-customer.example", "soft", "rejected")],
    "sendmail-mc-internal-failed": [("mc-internal@mc-customer.example", "soft", "expired")],
    "sendmail-mc-iprep-failed": [("mc-iprep@mc-customer.example", "soft", "badreputation")],
    "sendmail-mc-security-failed": [("mc-security@mc-customer.example", "soft", "policyviolation")],
    "sendmail-ml-callout-failed": [("ml-callout@remote.test", "hard", "userunknown")],
    "sendmail-ml-senderverify-failed": [("ml-senderverify@remote.test", "soft", "rejected")],
    "sendmail-ml-spam-long-failed": [("ml-spam-long@remote.test", "soft", "spamdetected")],
    "sendmail-ml-uu-last-failed": [("ml-uu-last@remote.test", "hard", "userunknown")],
    "sendmail-ms-anon-failed": [("ms-anon@contoso.com", "soft", "rejected")],
    "sendmail-ms-blocklist-failed": [("ms-blocklist@outlook.com", "soft", "blocked")],
    "sendmail-ms-busy-failed": [("ms-busy@outlook.com", "soft", "expired")],
    "sendmail-ms-dbeb-failed": [("ms-dbeb@contoso.com", "hard", "userunknown")],
    "sendmail-ms-exrecip-failed": [("ms-exrecip@contoso.com", "hard", "userunknown")],
    "sendmail-ms-forwarding-failed": [("ms-forwarding@contoso.com", "soft", "rejected")],
    "sendmail-ms-hops-failed": [("ms-hops@contoso.com", "soft", "networkerror")],
    "sendmail-ms-iprep-delayed": [("ms-iprep@outlook.com", "none", "badreputation")],
    "sendmail-ms-iprep-failed": [("ms-iprep@outlook.com", "soft", "badreputation")],
    "sendmail-ms-mime-failed": [("ms-mime@contoso.com", "soft", "contenterror")],
    "sendmail-ms-notfound-failed": [("ms-notfound@contoso.com", "hard", "userunknown")],
    "sendmail-ms-quota-failed": [("ms-quota@contoso.com", "soft", "mailboxfull")],
    "sendmail-ms-recipcount-failed": [("ms-recipcount@contoso.com", "soft", "toomanyconn")],
    "sendmail-ms-recipnotfound-failed": [("ms-recipnotfound@contoso.com", "hard", "userunknown")],
    "sendmail-ms-size-failed": [("ms-size@contoso.com", "soft", "mesgtoobig")],
    "sendmail-ms-traffic-failed": [("ms-traffic@contoso.com", "soft", "blocked")],
    "sendmail-ms-unregistered-failed": [("ms-unregistered@contoso.com", "soft", "blocked")],
    "sendmail-mx-moved-disabled-failed": [
        ("mx3-moved@remote.test", "hard", "hasmoved"),
        ("mx3-disabled@remote.test", "soft", "suspend"),
    ],
    "sendmail-mx-rcpt-eod-failed": [
        ("mx4-unknown@remote.test", "hard", "userunknown"),
        ("mx4-big1@remote.test", "soft", "mesgtoobig"),
        ("mx4-big2@remote.test", "soft", "mesgtoobig"),
    ],
    "sendmail-mx-sender-rcpt-failed": [
        ("mx5-unknown@remote.test", "hard", "userunknown"),
        ("mx5-sender@remote.test", "soft", "rejected"),
        ("mx5-moved@remote.test", "soft", "filtered"),
    ],
    "sendmail-mx-uu-full-failed": [
        ("mx1-unknown@remote.test", "hard", "userunknown"),
        ("mx1-full@remote.test", "soft", "mailboxfull"),
    ],
    "sendmail-mx-uu-policy-failed": [
        ("mx2-nosuch@remote.test", "hard", "userunknown"),
        ("mx2-policy@remote.test", "soft", "policyviolation"),
    ],
    "sendmail-na-french-failed": [("na-french@remote.test", "soft", "mailboxfull")],
    "sendmail-na-japanese-failed": [("na-japanese@remote.test", "hard", "userunknown")],
    "sendmail-nc-data-failed": [("nc-data@remote.test", "soft", "systemerror")],
    "sendmail-nc-data-tmp-failed": [("nc-data-tmp@remote.test", "soft", "systemerror")],
    "sendmail-nc-eod-tmp-delayed": [("nc-eod-tmp@remote.test", "none", "systemfull")],
    "sendmail-nc-eod-tmp-failed": [("nc-eod-tmp@remote.test", "soft", "systemfull")],
    "sendmail-nc-greet421-delayed": [("nc-greet421@remote.test", "none", "systemerror")],
    "sendmail-nc-helo-failed": [("nc-helo@remote.test", "soft", "rejected")],
    "sendmail-nc-mail-nosuch-failed": [("nc-mail-nosuch@remote.test", "soft", "rejected")],
    "sendmail-nc-mail-notallowed-failed": [("nc-mail-notallowed@remote.test", "soft", "rejected")],
    "sendmail-nc-rcpt-nosuch-failed": [("nc-rcpt-nosuch@remote.test", "hard", "userunknown")],
    "sendmail-nc-rcpt-qmail-failed": [("nc-rcpt-qmail@remote.test", "hard", "userunknown")],
    "sendmail-nc-rcpt-qmailrelay-failed": [
        ("nc-rcpt-qmailrelay@remote.test", "soft", "norelaying")
    ],
    "sendmail-nc-rcpt-storage-failed": [("nc-rcpt-storage@remote.test", "soft", "mailboxfull")],
    "sendmail-nc-rcpt-tmp-delayed": [("nc-rcpt-tmp@remote.test", "none", "expired")],
    "sendmail-nc-rcpt-tmp-failed": [("nc-rcpt-tmp@remote.test", "soft", "expired")],
    "sendmail-nc-rcpt-unknown-failed": [("nc-rcpt-unknown@remote.test", "hard", "userunknown")],
    "sendmail-nogreet-failed": [("nogreet@remote.test", "soft", "expired")],
    "sendmail-nullmx-failed": [("someone@nullmx.test", "hard", "notaccept")],
    "sendmail-nxdomain-failed": [("someone@nxdomain.test", "hard", "hostunknown")],
    "sendmail-pipe64-failed": [("pipe64@pipe.test", "soft", "mailererror")],
    "sendmail-pipe65-failed": [("pipe65@pipe.test", "soft", "mailererror")],
    "sendmail-pipe67-failed": [("pipe67@pipe.test", "hard", "userunknown")],
    "sendmail-pipe68-failed": [("pipe68@pipe.test", "hard", "hostunknown")],
    "sendmail-pipe69-failed": [("pipe69@pipe.test", "soft", "mailererror")],
    "sendmail-pipe70-failed": [("pipe70@pipe.test", "soft", "mailererror")],
    "sendmail-pipe73-failed": [("pipe73@pipe.test", "soft", "systemerror")],
    "sendmail-pipe75-failed": [("pipe75@pipe.test", "soft", "systemerror")],
    "sendmail-pipe77-failed": [("pipe77@pipe.test", "soft", "systemerror")],
    "sendmail-pp-blocked-failed": [("pp-blocked@pp-customer.example", "soft", "blocked")],
    "sendmail-pp-blocked-rcpt-failed": [("pp-blocked-rcpt@pp-customer.example", "soft", "blocked")],
    "sendmail-pp-dmarc-failed": [("pp-dmarc@pp-customer.example", "soft", "authfailure")],
    "sendmail-pp-grey-delayed": [("pp-grey@pp-customer.example", "none", "expired")],
    "sendmail-pp-grey-failed": [("pp-grey@pp-customer.example", "soft", "blocked")],
    "sendmail-refused-delayed": [("someone@refused.test", "none", "networkerror")],
    "sendmail-rfc-ambig-failed": [("rfc-ambig@remote.test", "hard", "userunknown")],
    "sendmail-rfc-baddest-failed": [("rfc-baddest@remote.test", "hard", "userunknown")],
    "sendmail-rfc-busy-delayed": [("rfc-busy@remote.test", "none", "expired")],
    "sendmail-rfc-busy-failed": [("rfc-busy@remote.test", "soft", "expired")],
    "sendmail-rfc-data-tmp-failed": [("rfc-data-tmp@remote.test", "soft", "systemerror")],
    "sendmail-rfc-eod-big-failed": [("rfc-eod-big@remote.test", "soft", "mesgtoobig")],
    "sendmail-rfc-eod-loop-failed": [("rfc-eod-loop@remote.test", "soft", "networkerror")],
    "sendmail-rfc-eod-spf-failed": [("rfc-eod-spf@remote.test", "soft", "authfailure")],
    "sendmail-rfc-eod-tmp-delayed": [("rfc-eod-tmp@remote.test", "none", "expired")],
    "sendmail-rfc-eod-tmp-failed": [("rfc-eod-tmp@remote.test", "soft", "blocked")],
    "sendmail-rfc-eod-trans-failed": [("rfc-eod-trans@remote.test", "soft", "systemerror")],
    "sendmail-rfc-eod-virus-failed": [("rfc-eod-virus@remote.test", "soft", "virusdetected")],
    "sendmail-rfc-greet421-delayed": [("rfc-greet421@remote.test", "none", "systemerror")],
    "sendmail-rfc-greet421-failed": [("rfc-greet421@remote.test", "soft", "systemerror")],
    "sendmail-rfc-greet521-failed": [("rfc-greet521@remote.test", "soft", "blocked")],
    "sendmail-rfc-helo-nohost-failed": [("rfc-helo-nohost@remote.test", "soft", "blocked")],
    "sendmail-rfc-mail-syntax-failed": [("rfc-mail-syntax@remote.test", "soft", "rejected")],
    "sendmail-rfc-mail-unknown-failed": [("rfc-mail-unknown@remote.test", "soft", "rejected")],
    "sendmail-rfc-mail-unverified-delayed": [
        ("rfc-mail-unverified@remote.test", "none", "rejected")
    ],
    "sendmail-rfc-mail-unverified-failed": [
        ("rfc-mail-unverified@remote.test", "soft", "rejected")
    ],
    "sendmail-rfc-notallowed-failed": [("rfc-notallowed@remote.test", "hard", "userunknown")],
    "sendmail-rfc-notlocal-failed": [("rfc-notlocal@remote.test", "hard", "hasmoved")],
    "sendmail-rfc-nullmx-rcpt-failed": [("rfc-nullmx-rcpt@remote.test", "hard", "notaccept")],
    "sendmail-rfc-quota-tmp-delayed": [("rfc-quota-tmp@remote.test", "none", "mailboxfull")],
    "sendmail-rfc-quota-tmp-failed": [("rfc-quota-tmp@remote.test", "soft", "mailboxfull")],
    "sendmail-rfc-rcpt-grey-delayed": [("rfc-rcpt-grey@remote.test", "none", "expired")],
    "sendmail-rfc-rcpt-grey-failed": [("rfc-rcpt-grey@remote.test", "soft", "expired")],
    "sendmail-rfc-rcpt-tmpuser-failed": [("rfc-rcpt-tmpuser@remote.test", "soft", "expired")],
    "sendmail-rfc-relay-failed": [("rfc-relay@remote.test", "soft", "norelaying")],
    "sendmail-rfc-sysfull-delayed": [("rfc-sysfull@remote.test", "none", "systemfull")],
    "sendmail-rfc-unavail-failed": [("rfc-unavail@remote.test", "hard", "userunknown")],
    "sendmail-rn-bare-failed": [("rn-bare@remote.test", "hard", "userunknown")],
    "sendmail-rn-sendmail-failed": [("rn-sendmail@remote.test", "hard", "userunknown")],
    "sendmail-rn-syntax-failed": [("rn-syntax@remote.test", "hard", "userunknown")],
    "sendmail-rn-upper-failed": [("rn-upper@remote.test", "hard", "userunknown")],
    "sendmail-servfail-failed": [("someone@servfail.test", "soft", "expired")],
    "sendmail-sn-mailbox-failed": [("sn-mailbox@remote.test", "soft", "rejected")],
    "sendmail-sn-ms-outbound-failed": [("sn-ms-outbound@contoso.com", "soft", "rejected")],
    "sendmail-sn-sendmail-failed": [("sn-sendmail@remote.test", "soft", "rejected")],
    "sendmail-tls-required-failed": [("tls-required@gmail.com", "soft", "securityerror")],
    "sendmail-tm-data421-delayed": [("tm-data421@remote.test", "none", "expired")],
    "sendmail-tm-data421-failed": [("tm-data421@remote.test", "soft", "expired")],
    "sendmail-tm-helo-delayed": [("tm-helo@remote.test", "none", "expired")],
    "sendmail-tm-mail-delayed": [("tm-mail@remote.test", "none", "systemfull")],
    "sendmail-tm-rcpt421-failed": [("tm-rcpt421@remote.test", "soft", "expired")],
    "sendmail-yh-bl21-failed": [("yh-bl21@yahoo.com", "soft", "blocked")],
    "sendmail-yh-deferred-delayed": [("yh-deferred@yahoo.com", "none", "rejected")],
    "sendmail-yh-deferred-failed": [("yh-deferred@yahoo.com", "soft", "rejected")],
    "sendmail-yh-notfound-failed": [("yh-notfound@yahoo.com", "hard", "userunknown")],
    "sendmail-yh-nouser-failed": [("yh-nouser@yahoo.com", "hard", "userunknown")],
    "sendmail-yh-ts03-failed": [("yh-ts03@yahoo.com", "soft", "blocked")],
    "sendmail-yh-tss04-delayed": [("yh-tss04@yahoo.com", "none", "badreputation")],
    "sendmail-yh-tss04-failed": [("yh-tss04@yahoo.com", "soft", "badreputation")],
    "sendmail-yh-unauth-failed": [("yh-unauth@yahoo.com", "soft", "authfailure")],
}

# (file, recipient) of the work part whose promise differs from the truth, and why
DISAGREEMENTS = {
    # Exim's notice for a delivery program that exited 67 (EX_NOUSER) only says "local
    # delivery failed": the code is in Exim's log, not in the bounce; nothing in it says the
    # address is unknown
    ("exim-pipe67-failed.eml", "pipe67@pipe.test"),
    # the grid's sender refusal names <bounces+x@example.org>, not the envelope sender of the
    # message (a real server names the MAIL FROM it was given, which is the bounce's own
    # address and never read as a recipient): the transcript line naming it starts a
    # recipient of its own and cuts the moved user's exchange short, so the 551 is read as
    # the reply to the pipelined DATA (with the envelope sender there, it is hard at RCPT)
    ("sendmail-mx-sender-rcpt-failed.eml", "mx5-moved@remote.test"),
}


def _verdicts(name: str) -> list[tuple[str, str, str]]:
    analysis = analyse((REAL / f"{name}.eml").read_bytes(), RULES, None, 0)
    return [
        (
            v.bounce.recipient,
            v.classification.severity.value if v.bounce.kind.value == "bounce" else NONE,
            v.classification.reason.value,
        )
        for v in analysis.verdicts
    ]


def test_the_work_table_covers_the_work_part() -> None:
    work = sorted(p.stem for p in REAL.glob("*.eml") if part(p.name) == "work")
    assert sorted(WORK) == work


@pytest.mark.parametrize("name", sorted(WORK))
def test_work_part_bounce_is_classified_as_promised(name: str) -> None:
    assert _verdicts(name) == WORK[name]


def test_work_promises_agree_with_the_truth_but_for_the_stated_disagreements() -> None:
    differ = set()
    for row in TRUTH:
        name = str(row["file"])
        if part(name) != "work":
            continue
        got = {r: (c, why) for r, c, why in WORK[name.removesuffix(".eml")]}
        klass, reason = got[str(row["recipient"])]
        reasons = {str(r) for r in row["reasons"]}
        if klass != row["severity"] or (
            row["kind"] == "bounce" and reason not in reasons | {"expired"}
        ):
            differ.add((name, str(row["recipient"])))
    # a class that differs is a broken promise unless it is stated; a reason alone that differs
    # (two neighbours of one boundary, bench/real_mta.py --misses) is not
    assert {d for d in differ if _class_differs(*d)} == DISAGREEMENTS


def _class_differs(name: str, recipient: str) -> bool:
    row = next(t for t in TRUTH if t["file"] == name and t["recipient"] == recipient)
    got = {r: c for r, c, _ in WORK[name.removesuffix(".eml")]}
    return got[recipient] != row["severity"]


def test_validation_part_floors() -> None:
    """The validation part: no false hard (a good address suppressed); at most three hards
    called soft and the class of at least 97 % of the rows right (as measured when the
    Sendmail files were added: 3 and 98.16 %)."""
    rows = [t for t in TRUTH if part(str(t["file"])) == "validation"]
    verdicts = {}
    for name in {str(t["file"]) for t in rows}:
        for recipient, klass, _ in _verdicts(name.removesuffix(".eml")):
            verdicts[(name, recipient)] = klass
    got = [(t["severity"], verdicts.get((str(t["file"]), str(t["recipient"])))) for t in rows]
    assert sum(1 for want, have in got if have == HARD and want != HARD) == 0
    assert sum(1 for want, have in got if want == HARD and have != HARD) <= 3
    assert sum(1 for want, have in got if want == have) / len(got) >= 0.97


def _stage_agreement(mta: str, which: str) -> float:
    """The share of `mta`'s final-failure rows in the `which` part whose stage is read as the
    truth states it (rows whose truth stage is known), as bench/real_mta.py counts it."""
    rows = [
        t
        for t in TRUTH
        if t["mta"] == mta
        and t["kind"] == "bounce"
        and t["stage"] != "unknown"
        and part(str(t["file"])) == which
    ]
    stages = {}
    for name in {str(t["file"]) for t in rows}:
        analysis = analyse((REAL / name).read_bytes(), RULES, None, 0)
        for v in analysis.verdicts:
            stages[(name, v.bounce.recipient)] = v.bounce.stage.value
    right = sum(1 for t in rows if stages.get((str(t["file"]), t["recipient"])) == t["stage"])
    return 100 * right / len(rows)


@pytest.mark.parametrize(
    ("mta", "which", "floor"),
    [
        # strict floors, as measured when Sendmail's refusals of the message after ">>> DATA"
        # were first read as end-of-data (its stage was 68.5 % of the whole grid before)
        ("sendmail", "work", 90.0),
        ("sendmail", "validation", 97.5),
        ("postfix", "work", 97.0),
        ("exim", "work", 99.0),
    ],
)
def test_stage_agreement_floor(mta: str, which: str, floor: float) -> None:
    assert _stage_agreement(mta, which) >= floor
