"""Word lists of the Acme demo data: fictional people, companies, staff, pages and price list parts."""

from __future__ import annotations

import itertools

# (country, region, weight); currency is USD except where listed in CURRENCY.
COUNTRIES = (
    ("US", "NA", 32), ("CA", "NA", 8),
    ("GB", "EMEA", 9), ("DE", "EMEA", 8), ("FR", "EMEA", 5), ("NL", "EMEA", 3), ("ES", "EMEA", 2),
    ("SE", "EMEA", 1), ("ZA", "EMEA", 1), ("AE", "EMEA", 1),
    ("AU", "APAC", 6), ("JP", "APAC", 4), ("SG", "APAC", 3), ("IN", "APAC", 3), ("NZ", "APAC", 2),
    ("BR", "LATAM", 5), ("MX", "LATAM", 4), ("AR", "LATAM", 1), ("CL", "LATAM", 1), ("CO", "LATAM", 1),
)  # fmt: skip
COUNTRY_CUM = list(itertools.accumulate(w for _, _, w in COUNTRIES))
CURRENCY = {"GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR"}
FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Susan", "Richard", "Jessica", "Joseph", "Sarah", "Thomas", "Karen", "Carlos", "Lucia",
    "Mateo", "Sofia", "Hiroshi", "Yuki", "Wei", "Mei", "Arjun", "Priya", "Lars", "Ingrid", "Pierre",
    "Camille", "Hans", "Greta", "Ahmed", "Fatima", "Kwame", "Amara", "Liam", "Olivia", "Noah", "Emma",
    "Diego", "Valentina", "Kenji", "Aiko", "Ravi", "Ananya", "Tomas", "Elena",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young", "King", "Schmidt",
    "Muller", "Dubois", "Laurent", "Rossi", "Bianchi", "Silva", "Santos", "Tanaka", "Suzuki", "Wang", "Li",
    "Chen", "Kim", "Park", "Patel", "Sharma", "Nguyen", "Okafor", "Mensah", "Johansson", "Andersen",
    "Novak", "Kowalski", "Costa", "Ferreira", "Murphy", "Kelly", "Reyes", "Cruz",
)  # fmt: skip
NAME_A = (
    "Blue", "Northern", "Silver", "Bright", "Summit", "Golden", "Red", "Green", "Pacific", "Atlantic",
    "Granite", "Crystal", "Iron", "Cedar", "Maple", "Eagle", "Falcon", "Harbor", "Prairie", "Coastal",
    "Urban", "Polar", "Solar", "Lunar", "Rapid", "Quiet", "Bold", "Swift", "Clear", "Prime",
)  # fmt: skip
NAME_B = (
    "River", "Peak", "Forge", "Bay", "Stone", "Field", "Ridge", "Lake", "Bridge", "Gate", "Valley", "Point",
    "Wave", "Grove", "Path", "Tower", "Mill", "Spring", "Crest", "Haven", "Works", "Line", "Port", "Star",
)  # fmt: skip
NAME_C = (
    "Logistics", "Systems", "Foods", "Health", "Media", "Partners", "Industries", "Analytics", "Retail",
    "Energy", "Capital", "Labs", "Manufacturing", "Software", "Consulting", "Holdings",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")  # reserved by RFC 2606
AREA_CODES = ("201", "206", "212", "303", "305", "312", "415", "512", "617", "702", "808", "919")
SEGMENTS = (("SMB", 60, (1, 20)), ("Mid-Market", 30, (10, 120)), ("Enterprise", 10, (50, 600)))
MANAGERS = {
    "NA": ("Avery Collins", "Jordan Blake", "Morgan Price"),
    "EMEA": ("Sophie Laurent", "Henrik Dahl", "Amelia Grant"),
    "APAC": ("Kenta Mori", "Grace Tan", "Rohan Mehta"),
    "LATAM": ("Camila Duarte", "Andres Rojas", "Beatriz Lima"),
}
SALES_REPS = {
    "NA": ("Riley Foster", "Casey Morgan", "Taylor Brooks", "Jamie Ellis"),
    "EMEA": ("Oliver Hayes", "Lena Vogel", "Marco Ricci", "Chloe Martin"),
    "APAC": ("Daniel Wong", "Aisha Rahman", "Hana Sato", "Lucas Tran"),
    "LATAM": ("Gabriel Souza", "Isabela Castro", "Pablo Herrera", "Julia Mendes"),
}
CATEGORIES = (  # (category, code, base monthly price per seat in USD)
    ("Platform", "PLT", 12), ("Analytics", "ANL", 18), ("Security", "SEC", 15), ("Integrations", "INT", 8),
    ("Support", "SUP", 25),
)  # fmt: skip
TIERS = (("Starter", 1.0), ("Basic", 1.5), ("Team", 2.0), ("Business", 3.0), ("Pro", 4.0),
          ("Enterprise", 6.0), ("Unlimited", 9.0), ("Premier", 14.0))  # fmt: skip
INDUSTRIES = ("Software", "Manufacturing", "Retail", "Healthcare", "Financial Services", "Logistics",
               "Education", "Media", "Energy", "Public Sector", "Hospitality", "Telecommunications")  # fmt: skip
TITLES = ("CEO", "CFO", "CTO", "VP Sales", "VP Marketing", "Head of Data", "IT Manager", "Procurement Lead",
           "Finance Manager", "Data Analyst", "Software Engineer", "Operations Manager")  # fmt: skip
STAGES_OPEN = ("prospecting", "qualification", "proposal", "negotiation")
TICKET_SUBJECTS = {
    "support": ("Cannot log in", "Dashboard loads slowly", "Export to CSV fails", "SSO configuration help",
                "API rate limit errors", "Password reset e-mail not received", "Report shows wrong totals",
                "Integration with CRM stopped syncing"),
    "finance": ("Question about an invoice", "Refund request", "Update billing address", "Card payment declined",
                "Request a VAT invoice"),
    "sales": ("Upgrade to the Enterprise plan", "Add more seats", "Quote for a second team"),
    "marketing": ("Webinar registration issue", "Unsubscribe from the newsletter", "Case study permission"),
}  # fmt: skip
EVENT_TYPES = (("page_view", 60), ("click", 20), ("search", 6), ("login", 6), ("signup", 2),
                ("download", 3), ("form_submit", 3))  # fmt: skip
EVENT_PAGES = {
    "page_view": ("/", "/pricing", "/product/analytics", "/product/security", "/docs", "/docs/getting-started",
                  "/docs/api", "/blog", "/blog/2026-roadmap", "/customers", "/account/billing", "/account/invoices"),
    "click": ("/", "/pricing", "/product/analytics", "/docs", "/account/billing"),
    "search": ("/search",),
    "login": ("/login",),
    "signup": ("/signup",),
    "download": ("/docs/whitepaper", "/docs/security-overview"),
    "form_submit": ("/contact-sales", "/support", "/signup"),
}  # fmt: skip
REFERRERS = ("(direct)", "(direct)", "https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
              "https://www.linkedin.com/", "https://news.example.org/", "newsletter")  # fmt: skip
DEVICES = ("desktop", "desktop", "desktop", "mobile", "mobile", "tablet")
