#!/usr/bin/env python3
"""A reference CRM integration for the integration check (issue 25), on the official AWS SDK
for Python (boto3, given the published Selling API model through AWS_DATA_PATH as botocore
takes newer models). It does what a partner's integration does: pushes a new deal to the
Sandbox (create with the mandatory fields, then submit), polls to keep its records in step,
fixes what an Action Required names, accepts referrals (turning leads into opportunities) and
records contacting their customers, rejects what it cannot take, deletes its copy of a referral
found revoked, reads AWS's view of approved deals (its seller's next steps), and reads the
existing opportunity when a record it sends again is refused as a duplicate.

It also drives the run the way a partner's developer would: it reads the run's report with
`ace check show --json`, pushes a deal when a scenario waits for one, and, when a step waits
for what the integration will never do, moves the test clock past the step's timeout
(`ace clock advance`). `--broken` makes it misbehave in one way.

Usage: reference_crm.py --ace PATH --endpoint URL --run RUN [--broken NAME]
"""

import argparse
import json
import subprocess
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

BROKEN = ("none", "ignores-action-required", "never-accepts-referrals", "reads-referrals-before-accepting",
          "retries-duplicate-forever")
SEND_AGAIN = "Send the same CRM record again"


def deal(run, scenario):
    return dict(
        Catalog="Sandbox",
        ClientToken=f"crm-{run[-12:]}-{scenario}",
        Customer={"Account": {"CompanyName": "Northwind Traders", "WebsiteUrl": "https://northwind.example.com",
                              "Industry": "Retail",
                              "Address": {"CountryCode": "US", "PostalCode": "98101", "StateOrRegion": "Washington"}}},
        Project={"Title": f"Analytics platform ({scenario})",
                 "CustomerBusinessProblem": "Month-end reporting takes four days on the current warehouse.",
                 "CustomerUseCase": "Business Intelligence & Data Warehouse", "DeliveryModels": ["SaaS or PaaS"],
                 "ExpectedCustomerSpend": [{"Amount": "2500", "CurrencyCode": "USD", "Frequency": "Monthly",
                                            "TargetCompany": "AWS"}]},
        LifeCycle={"Stage": "Qualified", "TargetCloseDate": "2099-06-30"},
        OpportunityType="Net New Business",
        PrimaryNeedsFromAws=["Co-Sell - Architectural Validation"],
        PartnerOpportunityIdentifier=f"CRM-{run[-12:]}-{scenario}",
    )


class Crm:
    def __init__(self, endpoint, run, broken):
        config = Config(retries={"max_attempts": 1})
        self.pcs = boto3.client("partnercentral-selling", endpoint_url=endpoint, region_name="us-east-1", config=config)
        self.ace = boto3.client("ace-partner", endpoint_url=endpoint, region_name="us-east-1", config=config)
        self.broken = broken
        self.run = run
        self.pushed, self.fixed, self.referred, self.contacted, self.resent = set(), set(), set(), set(), set()
        self.gone = set()

    def push(self, scenario):
        created = self.pcs.create_opportunity(**deal(self.run, scenario))
        self.pcs.submit_opportunity(Catalog="Sandbox", Identifier=created["Id"], InvolvementType="Co-Sell",
                                    Visibility="Full")
        self.pushed.add(scenario)

    def send_again(self, scenario):
        """The deal sent again as a new create, as a sync that lost the first answer would: refused
        as a duplicate, it reconciles by reading the opportunity the refusal names — or, broken,
        retries the create (a loop that never gives up; five tries here)."""
        self.resent.add(scenario)
        for attempt in range(5 if self.broken == "retries-duplicate-forever" else 1):
            again = deal(self.run, scenario)
            again["ClientToken"] += f"-again-{attempt}"
            try:
                self.pcs.create_opportunity(**again)
                raise AssertionError("a duplicate PartnerOpportunityIdentifier was accepted")
            except self.pcs.exceptions.ValidationException as e:
                errors = e.response.get("ErrorList", [])
                assert errors and errors[0]["Code"] == "DUPLICATE_KEY_VALUE", e.response
                holder = errors[0]["Message"].split("identifies opportunity ")[1].split()[0]
        if self.broken != "retries-duplicate-forever":
            self.pcs.get_opportunity(Catalog="Sandbox", Identifier=holder)

    def answer_invitations(self, reject):
        listed = self.pcs.list_engagement_invitations(Catalog="Sandbox", ParticipantType="RECEIVER")
        for invitation in listed["EngagementInvitationSummaries"]:
            if invitation.get("Status") != "PENDING":
                continue
            engagement = invitation.get("EngagementId", "")
            if self.broken == "reads-referrals-before-accepting":
                try:
                    self.pcs.get_engagement(Catalog="Sandbox", Identifier=engagement)
                except self.pcs.exceptions.ResourceNotFoundException:
                    pass
            if self.broken == "never-accepts-referrals":
                continue
            if reject:
                self.pcs.reject_engagement_invitation(Catalog="Sandbox", Identifier=invitation["Id"],
                                                      RejectionReason="Unable to support")
            elif invitation.get("PayloadType") == "LeadInvitation":
                self.pcs.accept_engagement_invitation(Catalog="Sandbox", Identifier=invitation["Id"])
                task = self.pcs.start_opportunity_from_engagement_task(
                    Catalog="Sandbox", Identifier=engagement, ContextIdentifier="1", ClientToken=f"lead-{engagement}")
                self.referred.add(task["OpportunityId"])
            else:
                task = self.pcs.start_engagement_by_accepting_invitation_task(
                    Catalog="Sandbox", Identifier=invitation["Id"], ClientToken=f"accept-{invitation['Id']}")
                self.referred.add(task["OpportunityId"])

    def sync(self, now):
        summaries = self.pcs.list_opportunities(Catalog="Sandbox")["OpportunitySummaries"]
        listed = {summary["Id"] for summary in summaries}
        # A referred opportunity no longer listed: read it to learn why; gone (revoked, REM-2), its
        # copy is deleted.
        for oid in sorted(self.referred - listed - self.gone):
            try:
                self.pcs.get_opportunity(Catalog="Sandbox", Identifier=oid)
            except self.pcs.exceptions.ResourceNotFoundException:
                self.gone.add(oid)
        for summary in summaries:
            try:
                o = self.pcs.get_opportunity(Catalog="Sandbox", Identifier=summary["Id"])
            except self.pcs.exceptions.ResourceNotFoundException:
                # Gone since it was listed (a referral revoked meanwhile): its copy is deleted.
                self.gone.add(summary["Id"])
                continue
            oid = o["Id"]
            if oid in self.referred and oid not in self.contacted:
                try:
                    self.ace.record_referral_contact(Catalog="Sandbox", OpportunityIdentifier=oid, Channel="Phone",
                                                     ContactedAt=now, ActingInOwnName=True)
                    self.contacted.add(oid)
                except ClientError as e:
                    # Revoked since it was read: the next pass finds it gone.
                    if e.response["Error"]["Code"] not in ("ResourceNotFoundException", "ConflictException"):
                        raise
            life = o.get("LifeCycle", {})
            if life.get("ReviewStatus") == "Approved":
                # An approved deal: the CRM shows AWS's side of it too (its seller's next steps).
                self.pcs.get_aws_opportunity_summary(Catalog="Sandbox", RelatedOpportunityIdentifier=oid)
            if life.get("ReviewStatus") != "Action Required" or oid in self.fixed:
                continue
            if self.broken == "ignores-action-required":
                continue
            assert "Customer.Account.WebsiteUrl" in life.get("ReviewComments", ""), life
            customer = o["Customer"]
            customer["Account"]["WebsiteUrl"] = "https://www.northwind-traders.example.com"
            self.pcs.update_opportunity(
                Catalog="Sandbox", Identifier=oid, LastModifiedDate=o["LastModifiedDate"], Customer=customer,
                Project=o["Project"], LifeCycle={"Stage": "Qualified", "TargetCloseDate": "2099-06-30"},
                OpportunityType=o["OpportunityType"], PrimaryNeedsFromAws=o["PrimaryNeedsFromAws"],
                PartnerOpportunityIdentifier=o["PartnerOpportunityIdentifier"])
            self.fixed.add(oid)


def ace(args, *command):
    return subprocess.run([args.ace, *command], check=True, capture_output=True, text=True).stdout


def waiting(report):
    for scenario in report["scenarios"]:
        for step in scenario["steps"]:
            if step["status"] == "Waiting":
                return scenario["name"], step["title"]
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ace", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--broken", choices=BROKEN, default="none")
    args = parser.parse_args()
    crm = Crm(args.endpoint, args.run, args.broken)
    last, same = None, 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        report = json.loads(ace(args, "check", "show", args.run, "--json"))
        if report["status"] != "Running":
            print(report["status"])
            return 0
        now_waiting = waiting(report)
        if now_waiting and now_waiting[1].startswith("Create") and now_waiting[0] not in crm.pushed:
            crm.push(now_waiting[0])
        if now_waiting and now_waiting[1].startswith(SEND_AGAIN) and now_waiting[0] not in crm.resent:
            crm.send_again(now_waiting[0])
        crm.answer_invitations(reject=bool(now_waiting and now_waiting[1].startswith("Reject")))
        crm.sync(json.loads(ace(args, "clock", "show", "--json"))["now"])
        # A step still waiting after many passes waits for what this integration will not do.
        same = same + 1 if now_waiting == last else 0
        last = now_waiting
        if same >= 15:
            ace(args, "clock", "advance", "11m")
            same = 0
        time.sleep(0.2)
    print("the run did not end", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
