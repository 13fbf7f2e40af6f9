// The in-memory demo product used by the cross-tests: an npm-style SupportIntegration built from
// fixtures.json. tests/common/mod.rs (FakeApp) implements the same behaviour in Rust; keep both
// in sync. Dates are returned as Date objects, as a database-backed app would.

export function createIntegration(fixtures, { minimal = false } = {}) {
  const allPurchases = Object.values(fixtures.purchases).flat();
  const userById = (id) => fixtures.users.find((u) => u.id === id);

  const required = {
    async lookupUser(email) {
      if (email === fixtures.failingEmail) throw new Error(fixtures.failureMessage);
      const user = fixtures.users.find((u) => u.email === email);
      return user ? { ...user, createdAt: new Date(user.createdAt) } : null;
    },
    async getPurchases(userId) {
      return (fixtures.purchases[userId] ?? []).map((p) => ({
        ...p,
        purchasedAt: new Date(p.purchasedAt),
      }));
    },
    async revokeAccess({ purchaseId, reason, refundId }) {
      if (!reason || !refundId) return { success: false, error: 'reason and refundId are required' };
      return allPurchases.some((p) => p.id === purchaseId)
        ? { success: true }
        : { success: false, error: `Purchase not found: ${purchaseId}` };
    },
    async transferPurchase({ purchaseId, fromUserId, toEmail }) {
      if (!toEmail.includes('@')) return { success: false, error: `Invalid email: ${toEmail}` };
      const owned = (fixtures.purchases[fromUserId] ?? []).some((p) => p.id === purchaseId);
      return owned
        ? { success: true }
        : { success: false, error: `Purchase ${purchaseId} is not owned by ${fromUserId}` };
    },
    async generateMagicLink({ email, expiresIn }) {
      return { url: `${fixtures.magicLinkBase}?email=${email}&expiresIn=${expiresIn}` };
    },
  };
  if (minimal) return required;

  return {
    ...required,
    async getSubscriptions(userId) {
      return (fixtures.subscriptions[userId] ?? []).map((s) => ({
        ...s,
        currentPeriodStart: new Date(s.currentPeriodStart),
        currentPeriodEnd: new Date(s.currentPeriodEnd),
      }));
    },
    async updateEmail({ userId, newEmail }) {
      if (!newEmail.includes('@')) return { success: false, error: `Invalid email: ${newEmail}` };
      return userById(userId) ? { success: true } : { success: false, error: `User not found: ${userId}` };
    },
    async updateName({ userId, newName }) {
      if (!newName) return { success: false, error: 'Name must not be empty' };
      return userById(userId) ? { success: true } : { success: false, error: `User not found: ${userId}` };
    },
    async getClaimedSeats(bulkCouponId) {
      return (fixtures.claimedSeats[bulkCouponId] ?? []).map((s) => ({
        ...s,
        claimedAt: new Date(s.claimedAt),
      }));
    },
    async searchContent({ query, types, limit }) {
      const q = query.toLowerCase();
      let results = fixtures.searchIndex.filter(
        (r) =>
          (!types || types.includes(r.type)) &&
          (r.title.toLowerCase().includes(q) || (r.description ?? '').toLowerCase().includes(q)),
      );
      if (limit !== undefined) results = results.slice(0, limit);
      return { results, quickLinks: fixtures.quickLinks, meta: { totalResults: results.length } };
    },
    async getProductStatus(productId) {
      return fixtures.productStatus[productId] ?? null;
    },
    async getActivePromotions() {
      return fixtures.promotions;
    },
    async getCouponInfo(code) {
      return fixtures.coupons[code] ?? null;
    },
    async getRefundPolicy() {
      return fixtures.refundPolicy;
    },
    async getContentAccess(userId) {
      return fixtures.contentAccess[userId] ?? { userId, products: [] };
    },
    async getRecentActivity(userId) {
      return (
        fixtures.activity[userId] ?? {
          userId,
          lessonsCompleted: 0,
          totalLessons: 0,
          completionPercent: 0,
          recentItems: [],
        }
      );
    },
    async getLicenseInfo(purchaseId) {
      return fixtures.licenses[purchaseId] ?? null;
    },
    async getAppInfo() {
      return fixtures.appInfo;
    },
  };
}
