"""The column names HubSpot, Pipedrive, Salesforce and Zoho write in their exports, and the
lead field each fills: the one table of known headers. ``mapping.ALIASES`` is built from it
(plus the generic names people write by hand), so the mapping step's suggestions and this
table cannot drift apart. Each export's columns are listed as that CRM writes them (case,
punctuation, order) so the tests can upload that very header row.

Targets are the keys of ``mapping.TARGETS``. Two of them say what happens to a column a lead
has no field for:

- ``custom``: kept on the lead as a custom field named after the column. For what the old CRM
  knew about the person or company that a user may want to read or search later (address parts,
  industry, revenue, the record's id in the old CRM so a lead can be found there again).
- ``ignore``: not imported. For the old CRM's own bookkeeping, which is stale or meaningless
  once the lead lives here: when a record was last modified or viewed, who typed it in, ids of
  its users and of records that are not imported, values it derives from other columns.

Rules the table keeps (and ``tests/imports/test_known_headers.py`` checks):

- A status is not a lifecycle. HubSpot's and Salesforce's "Lead Status", Zoho's "Lead Status",
  Salesforce's "Status" and "Rating", Pipedrive's deal "Status" are sales statuses of their own:
  kept as custom fields, never read as a lifecycle stage. Only HubSpot's "Lifecycle Stage" is one.
- When a record was created in the old CRM maps to ``created_at``, so "new this week" and
  reports stay true after an import. Last-modified and last-activity dates are ignored: they
  describe work done in the old CRM, and LeadFlow keeps its own activity dates from now on.
- An owner column maps to ``owner`` only when it holds a person's name or e-mail (HubSpot's
  "Contact owner", Zoho's "Lead Owner"). Salesforce's ``OwnerId`` and Zoho's "Lead Owner.id"
  hold the old CRM's user ids, which no LeadFlow user has: mapping them to owner would fail
  every row.
- A normalised name (see ``mapping.normalise_header``) means one target in every CRM: the
  mapping step does not know which CRM wrote a file.
"""

from __future__ import annotations

Header = tuple[str, str]  # (column name as the CRM writes it, target)

KNOWN_HEADERS: dict[str, tuple[Header, ...]] = {
    # Contacts → Export (all properties or the view's columns). Labels as HubSpot shows them.
    "HubSpot contacts": (
        ("Record ID", "custom"),  # HubSpot's id of the contact: to find it there again
        ("First Name", "first_name"),
        ("Last Name", "last_name"),
        ("Email", "email"),
        ("Phone Number", "phone"),
        ("Mobile Phone Number", "phone"),  # used when "Phone Number" is empty
        ("Company Name", "organization"),
        ("Job Title", "title"),
        ("Contact owner", "owner"),  # the owner's name; matched to a user by name or e-mail
        ("Lifecycle Stage", "lifecycle"),
        ("Lead Status", "custom"),  # a sales status (New, Attempted to contact…), not a lifecycle
        ("Create Date", "created_at"),
        ("Original Source", "source"),
        ("Original Source Drill-Down 1", "custom"),  # the detail of the source (search engine, referring site)
        ("Original Source Drill-Down 2", "custom"),
        ("Latest Source", "custom"),  # the lead's source is where it first came from: "Original Source"
        ("Last Activity Date", "ignore"),  # activity in HubSpot; LeadFlow keeps its own
        ("Last Modified Date", "ignore"),  # HubSpot's bookkeeping
        ("Last Contacted", "ignore"),  # activity in HubSpot
        ("Marketing contact status", "ignore"),  # HubSpot's billing category, not about the person
        ("Primary Associated Company ID", "ignore"),  # id of a HubSpot company record, not imported
        ("Associated Company", "organization"),  # the company's name, when associations are exported
        ("Street Address", "custom"),
        ("City", "custom"),
        ("State/Region", "custom"),
        ("Postal Code", "custom"),
        ("Country/Region", "country"),
        ("Website URL", "custom"),
        ("Annual Revenue", "custom"),
        ("Industry", "custom"),
        ("Number of Employees", "custom"),
        ("Fax Number", "custom"),
        ("Message", "notes"),  # what the contact wrote on a form
        ("Email Domain", "ignore"),  # derived from the e-mail
        ("Time Zone", "custom"),
        ("Preferred language", "custom"),
        ("Persona", "custom"),
        ("Unsubscribed from all email", "custom"),  # kept so it is seen; imported leads get no consent anyway
        ("HubSpot Score", "ignore"),  # HubSpot's own scoring; LeadFlow scores leads itself
        ("Became a Lead Date", "ignore"),  # HubSpot's lifecycle history
        ("Number of Sales Activities", "ignore"),  # a count of activity in HubSpot
    ),
    # Leads inbox → Export. Pipedrive writes "<object> - <field>" for every column, the lead's
    # own and those of its person and organization.
    "Pipedrive leads": (
        ("Lead - ID", "custom"),  # Pipedrive's id of the lead: to find it there again
        ("Lead - Title", "custom"),  # the lead's name in Pipedrive ("Acme deal"), not a job title
        ("Lead - Value", "value"),
        ("Lead - Currency of Value", "currency"),
        ("Lead - Expected close date", "expected_close_date"),
        ("Lead - Labels", "tags"),
        ("Lead - Owner", "owner"),
        ("Lead - Creator", "ignore"),  # the Pipedrive user who typed it in; the owner is "Lead - Owner"
        ("Lead - Source", "source"),
        ("Lead - Source channel", "source"),  # where it came from (Paid search, Referral…), in newer exports
        ("Lead - Source origin", "custom"),  # how the record got into Pipedrive (Manually created, Import, API)
        ("Lead - Source channel ID", "ignore"),  # Pipedrive's ids of the two above
        ("Lead - Source origin ID", "ignore"),
        ("Lead - Lead created", "created_at"),
        ("Lead - Update time", "ignore"),  # Pipedrive's bookkeeping
        ("Lead - Next activity date", "ignore"),  # an activity in Pipedrive, not imported
        ("Lead - Visible to", "ignore"),  # Pipedrive's permission setting
        ("Lead - Was seen", "ignore"),  # Pipedrive's inbox state
        ("Lead - Contact person", "full_name"),  # the person's name, when person columns are not exported
        ("Lead - Organization", "organization"),
        ("Person - Name", "full_name"),
        ("Person - Email", "email"),
        ("Person - Phone", "phone"),
        ("Person - Job title", "title"),
        ("Organization - Name", "organization"),
        ("Organization - Address", "custom"),
    ),
    # Contacts → People → Export.
    "Pipedrive people": (
        ("Person - ID", "custom"),  # Pipedrive's id of the person
        ("Person - Name", "full_name"),
        ("Person - First name", "first_name"),
        ("Person - Last name", "last_name"),
        ("Person - Organization", "organization"),
        ("Person - Email - Work", "email"),
        ("Person - Email - Home", "email"),  # each row uses the first e-mail that is not empty
        ("Person - Email - Other", "email"),
        ("Person - Phone - Work", "phone"),
        ("Person - Phone - Mobile", "phone"),
        ("Person - Phone - Home", "phone"),
        ("Person - Phone - Other", "phone"),
        ("Person - Job title", "title"),
        ("Person - Labels", "tags"),
        ("Person - Owner", "owner"),
        ("Person - Person created", "created_at"),
        ("Person - Update time", "ignore"),  # Pipedrive's bookkeeping
        ("Person - Last activity date", "ignore"),  # activity in Pipedrive; LeadFlow keeps its own
        ("Person - Next activity date", "ignore"),
        ("Person - Open deals", "ignore"),  # counts of Pipedrive deals, not imported
        ("Person - Closed deals", "ignore"),
        ("Person - Visible to", "ignore"),  # Pipedrive's permission setting
        ("Person - Marketing status", "custom"),  # kept so it is seen; imported leads get no consent anyway
        ("Person - Postal address", "custom"),
        ("Person - City/town/village/locality of Postal address", "custom"),
        ("Person - ZIP/Postal code of Postal address", "custom"),
        ("Person - Country of Postal address", "country"),
        ("Person - Notes", "notes"),
        ("Organization - Name", "organization"),
    ),
    # People list exported from a view without the object prefix.
    "Pipedrive people (list view)": (
        ("Name", "full_name"),
        ("First name", "first_name"),
        ("Last name", "last_name"),
        ("Organization", "organization"),
        ("Email - Work", "email"),
        ("Email - Home", "email"),
        ("Phone - Work", "phone"),
        ("Phone - Mobile", "phone"),
        ("Labels", "tags"),
        ("Owner", "owner"),
        ("Person created", "created_at"),
        ("Update time", "ignore"),
        ("Organization - Name", "organization"),
    ),
    # Deals → Export.
    "Pipedrive deals": (
        ("Deal - ID", "custom"),  # Pipedrive's id of the deal
        ("Deal - Title", "custom"),  # the deal's name, not a job title
        ("Deal - Value", "value"),
        ("Deal - Currency of Value", "currency"),
        ("Deal - Weighted value", "ignore"),  # derived: value × probability
        ("Deal - Currency of Weighted value", "ignore"),
        ("Deal - Organization", "organization"),
        ("Deal - Contact person", "full_name"),
        ("Deal - Pipeline", "custom"),  # the stage column is matched by name in LeadFlow's pipelines
        ("Deal - Stage", "stage"),
        ("Deal - Status", "custom"),  # open / won / lost: a deal status, not a lifecycle
        ("Deal - Owner", "owner"),
        ("Deal - Label", "tags"),
        ("Deal - Source", "source"),
        ("Deal - Expected close date", "expected_close_date"),
        ("Deal - Deal created", "created_at"),
        ("Deal - Update time", "ignore"),
        ("Deal - Lost reason", "custom"),
        ("Person - Email", "email"),
        ("Person - Phone", "phone"),
    ),
    # A Leads report (Reports → Leads → Export, "Details only"), labels as the report writes them.
    "Salesforce leads report": (
        ("Lead Owner", "owner"),  # the owner's full name
        ("Salutation", "custom"),
        ("First Name", "first_name"),
        ("Last Name", "last_name"),
        ("Title", "title"),
        ("Company / Account", "organization"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Mobile", "phone"),
        ("Fax", "custom"),
        ("Lead Source", "source"),
        ("Lead Status", "custom"),  # Open - Not Contacted, Working - Contacted…: a sales status
        ("Rating", "custom"),  # Hot / Warm / Cold: not a lifecycle either
        ("Industry", "custom"),
        ("Annual Revenue", "custom"),
        ("No. of Employees", "custom"),
        ("Website", "custom"),
        ("Street", "custom"),
        ("City", "custom"),
        ("State/Province", "custom"),
        ("Zip/Postal Code", "custom"),
        ("Country", "country"),
        ("Create Date", "created_at"),
        ("Last Activity", "ignore"),  # activity in Salesforce; LeadFlow keeps its own
        ("Last Modified Date", "ignore"),  # Salesforce's bookkeeping
        ("Lead ID", "custom"),  # Salesforce's id of the lead: to find it there again
        ("Converted", "custom"),
        ("Email Opt Out", "custom"),  # kept so it is seen; imported leads get no consent anyway
        ("Description", "notes"),
    ),
    # A Contacts & Accounts report: the organization is the account.
    "Salesforce contacts report": (
        ("Contact Owner", "owner"),
        ("First Name", "first_name"),
        ("Last Name", "last_name"),
        ("Title", "title"),
        ("Account Name", "organization"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Mobile", "phone"),
        ("Lead Source", "source"),
        ("Mailing Street", "custom"),
        ("Mailing City", "custom"),
        ("Mailing State/Province", "custom"),
        ("Mailing Zip/Postal Code", "custom"),
        ("Mailing Country", "country"),
        ("Created Date", "created_at"),
        ("Last Modified Date", "ignore"),
        ("Contact ID", "custom"),  # Salesforce's id of the contact
        ("Account ID", "ignore"),  # id of a Salesforce account record, not imported
        ("Description", "notes"),
    ),
    # Data Loader and the weekly Data Export write the fields' API names.
    "Salesforce leads (API names)": (
        # Salesforce's id of the lead, but a bare "Id" is also LeadFlow's own export's column and a
        # row number in many hand-made sheets: not imported unless the user picks a custom field.
        ("Id", "ignore"),
        ("IsDeleted", "ignore"),  # Salesforce's bookkeeping
        ("MasterRecordId", "ignore"),  # the record a deleted duplicate was merged into
        ("LastName", "last_name"),
        ("FirstName", "first_name"),
        ("Salutation", "custom"),
        ("Name", "full_name"),  # first and last together; used only when both are empty
        ("Title", "title"),
        ("Company", "organization"),
        ("Street", "custom"),
        ("City", "custom"),
        ("State", "custom"),
        ("PostalCode", "custom"),
        ("Country", "country"),
        ("Latitude", "ignore"),  # Salesforce's geocoding of the address
        ("Longitude", "ignore"),
        ("Phone", "phone"),
        ("MobilePhone", "phone"),
        ("Fax", "custom"),
        ("Email", "email"),
        ("Website", "custom"),
        ("Description", "notes"),
        ("LeadSource", "source"),
        ("Status", "custom"),  # the Lead Status: a sales status, not a lifecycle
        ("Industry", "custom"),
        ("Rating", "custom"),
        ("AnnualRevenue", "custom"),
        ("NumberOfEmployees", "custom"),
        ("OwnerId", "custom"),  # a Salesforce user id (005…): no LeadFlow user has it, so not the owner
        ("HasOptedOutOfEmail", "custom"),  # kept so it is seen; imported leads get no consent anyway
        ("IsConverted", "custom"),
        ("ConvertedDate", "ignore"),  # Salesforce's conversion into its own records
        ("ConvertedAccountId", "ignore"),
        ("ConvertedContactId", "ignore"),
        ("ConvertedOpportunityId", "ignore"),
        ("IsUnreadByOwner", "ignore"),
        ("CreatedDate", "created_at"),
        ("CreatedById", "ignore"),  # a Salesforce user id
        ("LastModifiedDate", "ignore"),
        ("LastModifiedById", "ignore"),
        ("SystemModstamp", "ignore"),
        ("LastActivityDate", "ignore"),
        ("LastViewedDate", "ignore"),
        ("LastReferencedDate", "ignore"),
        ("EmailBouncedReason", "ignore"),  # about e-mail Salesforce sent
        ("EmailBouncedDate", "ignore"),
    ),
    # Leads → Export (CSV). Zoho writes the field labels; a lookup field comes with its id
    # in a "<label>.id" column.
    "Zoho CRM leads": (
        ("Record Id", "custom"),  # Zoho's id of the lead (zcrm_…): to find it there again
        ("Lead Owner.id", "ignore"),  # a Zoho user id; the owner's name is in "Lead Owner"
        ("Lead Owner", "owner"),
        ("Salutation", "custom"),
        ("First Name", "first_name"),
        ("Last Name", "last_name"),
        ("Lead Name", "full_name"),  # first and last together; used only when both are empty
        ("Company", "organization"),
        ("Designation", "title"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Mobile", "phone"),
        ("Fax", "custom"),
        ("Website", "custom"),
        ("Lead Source", "source"),
        ("Lead Status", "custom"),  # Contacted, Contact in Future, Junk Lead…: a sales status
        ("Industry", "custom"),
        ("No. of Employees", "custom"),
        ("Annual Revenue", "custom"),
        ("Rating", "custom"),
        ("Email Opt Out", "custom"),  # kept so it is seen; imported leads get no consent anyway
        ("Skype ID", "custom"),
        ("Secondary Email", "custom"),  # a second address: kept, the lead's e-mail is "Email"
        ("Twitter", "custom"),
        ("Created By.id", "ignore"),  # Zoho user ids and names of who typed or changed the record
        ("Created By", "ignore"),
        ("Modified By.id", "ignore"),
        ("Modified By", "ignore"),
        ("Created Time", "created_at"),
        ("Modified Time", "ignore"),  # Zoho's bookkeeping
        ("Last Activity Time", "ignore"),  # activity in Zoho; LeadFlow keeps its own
        ("Street", "custom"),
        ("City", "custom"),
        ("State", "custom"),
        ("Zip Code", "custom"),
        ("Country", "country"),
        ("Description", "notes"),
        ("Tag", "tags"),
        ("Is Converted", "custom"),
        ("Converted Account.id", "ignore"),  # ids of Zoho records the lead became, not imported
        ("Converted Contact.id", "ignore"),
        ("Converted Deal.id", "ignore"),
        ("Lead Conversion Time", "ignore"),
        ("Unsubscribed Mode", "custom"),  # kept so it is seen; imported leads get no consent anyway
        ("Unsubscribed Time", "custom"),
        ("Change Log Time", "ignore"),  # Zoho's bookkeeping
        ("Locked", "ignore"),
        ("Last Enriched Time", "ignore"),
        ("Enrich Status", "ignore"),
    ),
}

# Other names the same CRMs give these columns: older exports, other views, renamed fields.
OTHER_SPELLINGS: dict[str, tuple[Header, ...]] = {
    "HubSpot": (
        ("Original Traffic Source", "source"),  # the newer label of "Original Source"
        ("Latest Traffic Source", "custom"),
        ("Email Address", "email"),
        ("Associated Company IDs", "ignore"),
    ),
    "Pipedrive": (
        ("Lead - Value currency", "currency"),
        ("Lead - Currency", "currency"),
        ("Deal - Currency", "currency"),
        ("Lead - Label", "tags"),
        ("Person - Label", "tags"),
        ("Lead created", "created_at"),
        ("Organization - Country of Address", "country"),  # the company's country, when the person has none
        ("Person - Country", "country"),
        ("Organization - Country", "country"),
        ("Person - Source", "source"),
        ("Deal - Labels", "tags"),
        ("Lead - Stage", "stage"),
        ("Lead - Status", "custom"),  # a status, not a lifecycle
        ("Lead - Notes", "notes"),
    ),
    "Salesforce": (
        ("Company", "organization"),  # list views
        ("Account", "organization"),
        ("Mobile Phone", "phone"),
        ("Zip", "custom"),
    ),
    "Zoho": (
        ("Title", "title"),  # the label of the "Designation" field in most layouts
        ("Lead Owner Id", "ignore"),
        ("Address - Country / Region", "country"),
        ("Zip/Postal Code", "custom"),
    ),
}


def all_known_headers() -> list[tuple[str, str, str]]:
    """(where, header, target) for every entry of both tables: ``where`` names the export."""
    rows = [(export, header, target) for export, headers in KNOWN_HEADERS.items() for header, target in headers]
    rows += [(f"{crm} (other spellings)", header, target)
             for crm, headers in OTHER_SPELLINGS.items() for header, target in headers]
    return rows
